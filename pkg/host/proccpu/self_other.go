//go:build !unix

package proccpu

import "time"

// Self reports that this system has no getrusage: ok is false.
func Self() (cpu time.Duration, ok bool) { return 0, false }
