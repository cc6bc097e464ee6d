package integration

// Cells added after the first matrix register here from their own files
// (hardening_*_test.go, one topic each), so a topic's faults, cells and
// notes read together and the matrix stays one table with one total.

// extraFaults are the registered faults, in registration order (file name
// order, then order within a file), printed after faultOrder.
var extraFaults []string

// extraCells are the registered cell builders, per matrix column.
var extraCells = map[string][]func() []cell{}

// register adds faults to the printed order and cells to a probe's column.
// A fault named twice (by two probes' registrations) prints once.
func register(probe string, faults []string, cells func() []cell) {
	for _, f := range faults {
		if !contains(faultOrder, f) && !contains(extraFaults, f) {
			extraFaults = append(extraFaults, f)
		}
	}
	extraCells[probe] = append(extraCells[probe], cells)
}

// allCells is the probe's own cells and every registered one.
func (p matrixProbe) allCells() []cell {
	cells := p.cells()
	for _, more := range extraCells[p.col()] {
		cells = append(cells, more()...)
	}
	return cells
}

// allFaults is the print order: the first matrix's, then the registered.
func allFaults() []string {
	return append(append([]string(nil), faultOrder...), extraFaults...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
