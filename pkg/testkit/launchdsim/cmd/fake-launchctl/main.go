// The fake-launchctl command is a TEST DOUBLE of macOS's launchctl(1),
// backed by the fake launchd in package launchdsim. It exists so that code
// which shells out to launchctl can be tested on Linux; it is never
// installed.
//
// Usage:
//
//	FAKE_LAUNCHD_STATE=/tmp/t/state.json [FAKE_LAUNCHD_LOG=/tmp/t/calls.log] \
//	[FAKE_LAUNCHD_FAIL=bootstrap=eio-once] \
//	fake-launchctl bootstrap|bootout|enable|disable|kickstart [-k]|print|print-disabled ...
package main

import (
	"os"

	"github.com/sanctum/council-probes/pkg/testkit/launchdsim"
)

func main() {
	// Programs run under this same binary as their supervisor, so print
	// can report how they ended (launchd is their parent; the fake is not).
	if exe, err := os.Executable(); err == nil {
		launchdsim.SupervisorPath = exe
	}
	os.Exit(launchdsim.Main(os.Args[1:], os.Stdout, os.Stderr))
}
