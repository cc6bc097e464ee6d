// The fake-journalctl command is a SIMULATION of journalctl(1) reading the
// simulated systemd's journal (package systemdsim). It is never installed.
//
// Usage:
//
//	FAKE_SYSTEMD_STATE=/tmp/t/state.json fake-journalctl [--user] -u UNIT -o cat [--since @EPOCH] [-n N] [--no-pager] [-q]
package main

import (
	"os"

	"github.com/sanctum/council-probes/pkg/testkit/systemdsim"
)

func main() { os.Exit(systemdsim.JournalMain(os.Args[1:], os.Stdout, os.Stderr)) }
