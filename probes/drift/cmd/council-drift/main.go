// The council-drift command checks, once an hour under launchd, that what
// runs on the council host is what was committed: every deployed file in the
// drift map matches its canonical copy at HEAD of the repository, every
// expected launchd agent is loaded, the fallback server cannot race the
// primary at boot, and every other council probe is still ticking. Each
// drifted file, missing file, unloaded agent and silent probe is its own
// alert channel; uncommitted edits in the repository are logged at info only.
//
// Usage:
//
//	council-drift [--map ~/.sanctum/council-drift.map] [--repo ~/sanctum-rs]
//	              [--expect-agent LABEL]... [--watch-probe NAME=INTERVAL]...
//	              [--fallback-plist PATH] [--fallback-lock PATH] [--launchctl PATH]
//	              [--state-dir DIR] [--log-file FILE|-] [--dry-run]
//
// The drift map has one `<deployed path> = <canonical path relative to the
// repo>` pair a line; see the package documentation of
// github.com/sanctum/council-probes/probes/drift and testdata/example.map.
// Run council-drift --help for every setting with its environment variable
// and default. Exit codes follow the Nagios convention: 0 OK, 1 WARNING,
// 2 CRITICAL, 3 UNKNOWN.
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/drift"
)

func main() { os.Exit(drift.New().Run(os.Args)) }
