//go:build !unix

package systemdsim

import "errors"

// Units are not started on systems without Unix process groups; they
// load, and show reports them failed at EXEC.

const superviseVerb = "__supervise"

// SupervisorPath is unused here.
var SupervisorPath string

func spawnSupervisor(string, *Unit) (int, int, error) {
	return 0, 0, errors.New("processes are not simulated on this system")
}

func supervise([]string) int { return 64 }

func kill(*Unit) {}
