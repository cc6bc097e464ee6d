//go:build !unix

package launchdsim

// No programs run on systems without Unix process groups (see
// process_other.go), so there is nothing to supervise.

const superviseVerb = "__supervise"

// SupervisorPath is unused here.
var SupervisorPath string

var exitDir string

func supervise([]string) int { return 64 }

func lastStatus(pid, supervisor int) (n int, isSignal, ok bool) { return 0, false, false }

func signalText(n int) string { return "" }
