// The council-units command installs the council probes as systemd user
// units, the Linux counterpart of council-plists: one Type=oneshot service
// and one timer per probe (council-<name>.service and .timer in
// ~/.config/systemd/user), from the probe list in pkg/core/suite. It also
// says whether user units will run on this host (doctor), and renders the
// polkit rule that lets the probes' user restart system-scope primary and
// fallback units (polkit).
//
// Usage:
//
//	council-units render    [flags]   write the validated units, run no systemctl
//	council-units install   [flags]   write them, daemon-reload, enable --now each timer
//	council-units uninstall [flags]   disable --now each timer, remove the units, daemon-reload
//	council-units doctor    [--user NAME]
//	council-units polkit    --primary UNIT --fallback UNIT --user NAME [--output FILE]
//
// Flags of render, install and uninstall (each also an environment
// variable; see --help):
//
//	--destdir DIR      where the units go (~/.config/systemd/user)
//	--bindir DIR       where council-<name> is installed (~/.local/bin)
//	--log-dir DIR      the probes' JSON-lines logs (~/.openclaw/logs)
//	--home DIR         home the ~ paths resolve against ($HOME)
//	--systemctl PATH   systemctl to run (systemctl)
//	--dry-run          print the systemctl commands instead of running them
//
// Without systemd (any system but Linux, unless --systemctl is given) it
// renders, validates and writes the units and prints the exact systemctl
// commands it would run. Exit status: 0 done, 1 failed, 2 bad usage; the
// doctor exits 0 when the units will run, 1 when it warns (each warning
// says how to fix it), 3 when it cannot tell.
package main

import (
	"os"

	"github.com/sanctum/council-probes/units"
)

func main() {
	os.Exit(units.Run(os.Args, os.Stdout, os.Stderr))
}
