//go:build !unix

package councilsim

import (
	"os"
	"syscall"
)

// dieOf exits: without Unix signals a crash is an abnormal exit status.
func dieOf(sig syscall.Signal) { os.Exit(128 + int(sig)) }
