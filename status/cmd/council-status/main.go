// The council-status command shows the council probes at a glance: for each
// probe the last result, the age of its last tick (stale past 3x its
// interval), its open alert channels with severity and since when, its alert
// outbox depth and its last logged problem; and the fallback lock (who, when,
// why). It exits with the worst state, so it is itself a Nagios-style check.
//
// Usage:
//
//	council-status [--state-dir DIR] [--log-dir DIR] [--fallback-lock FILE]
//	               [--probes guardian,canary,...] [--json] [--wide]
//	               [--watch 5s] [--color auto|always|never]
//
// The table fits the screen: every line is cut to $COLUMNS, else the
// terminal's width, else 100 columns, with an ellipsis; --wide prints
// everything in full, and --json the whole report.
//
// Every flag has an environment variable (COUNCIL_STATE_DIR, COUNCIL_LOG_DIR,
// COUNCIL_FALLBACK_LOCK, ...); see --help. Exit codes: 0 OK, 1 WARNING,
// 2 CRITICAL, 3 UNKNOWN (a probe stale, never run or unreadable).
package main

import (
	"os"

	"github.com/sanctum/council-probes/status"
)

func main() { os.Exit(status.New().Run(os.Args)) }
