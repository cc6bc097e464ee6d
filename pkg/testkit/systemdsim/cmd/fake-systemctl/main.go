// The fake-systemctl command is a SIMULATION of systemd's systemctl(1),
// backed by the simulated systemd in package systemdsim. It exists so that
// code which shells out to systemctl can be tested, and the demo run,
// without systemd; it is never installed.
//
// Usage:
//
//	FAKE_SYSTEMD_STATE=/tmp/t/state.json FAKE_SYSTEMD_UNITS=/tmp/t/units \
//	[FAKE_SYSTEMD_LOG=/tmp/t/calls.log] [FAKE_SYSTEMD_FAIL=restart=denied] \
//	fake-systemctl [--user|--system] show|start|stop|restart|reset-failed|enable [--now]|disable [--now]|daemon-reload UNIT...
package main

import (
	"os"

	"github.com/sanctum/council-probes/pkg/testkit/systemdsim"
)

func main() {
	// Units run under this same binary as their supervisor, so it can
	// see how they end and restart them (systemd is their parent; the
	// simulation's invocations are not).
	if exe, err := os.Executable(); err == nil {
		systemdsim.SupervisorPath = exe
	}
	os.Exit(systemdsim.Main(os.Args[1:], os.Stdout, os.Stderr))
}
