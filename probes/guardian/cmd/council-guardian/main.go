// The council-guardian command is the council's liveness probe and first
// responder. launchd runs it every 30 s; each run is one tick: GET
// /v1/models over mTLS or bearer, restart the primary after 3 failures in a
// row (at most 3 per 300 s), promote the fallback instead when the primary
// can never serve, and watch the fallback while it serves.
//
// Usage:
//
//	council-guardian [flags]                  one tick
//	council-guardian restore-primary [flags]  operator: back to the primary
//	council-guardian --help                   every setting, env var and default
//
// Exit status follows the Nagios plugin convention: 0 OK, 1 WARNING
// (degraded, e.g. serving from the fallback), 2 CRITICAL (failing, or a
// human is needed: restart refused by the rate limit, fallback down), 3
// UNKNOWN (bad configuration, previous tick still running).
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/guardian"
)

func main() { os.Exit(guardian.New().Run(os.Args)) }
