// The council-plists command renders, validates, installs and uninstalls
// the council probes' LaunchAgent plists (one per probe, label
// <prefix>.council-<name>), and renders the fallback server's plist on
// request without ever loading it; install then disables the fallback's
// label in launchd (`launchctl disable`, since the plist's Disabled=true is
// read only at bootstrap), unless the fallback lock says it is serving.
//
// Usage:
//
//	council-plists render    [flags]   write the validated plists, run no launchctl
//	council-plists install   [flags]   write them and load each (bootout, bootstrap, kickstart -k)
//	council-plists uninstall [flags]   bootout each and remove its plist
//
// Flags (each also an environment variable; see --help):
//
//	--destdir DIR        where the plists go (~/Library/LaunchAgents)
//	--bindir DIR         where council-<name> is installed (~/.local/bin)
//	--log-dir DIR        StandardOutPath/StandardErrorPath dir (~/.openclaw/logs)
//	--label-prefix P     labels are P.council-<name> (com.sanctum)
//	--home DIR           home the ~ paths resolve against ($HOME)
//	--launchctl PATH     launchctl to run (launchctl)
//	--dry-run            print the launchctl commands instead of running them
//	--with-fallback      also write the fallback server's plist (never loaded) and
//	                     launchctl disable its label (install)
//	--fallback-lock PATH while it exists the fallback serves: do not disable it
//	                     (~/.sanctum/state/council-fallback.lock)
//
// Without launchd (any system but macOS, unless --launchctl is given) it
// renders, validates and writes the plists and prints the exact launchctl
// commands it would run. Exit status: 0 done, 1 failed, 2 bad usage.
package main

import (
	"os"

	"github.com/sanctum/council-probes/plists"
)

func main() {
	os.Exit(plists.Run(os.Args, os.Stdout, os.Stderr))
}
