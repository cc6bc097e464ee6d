//go:build unix

// The launcher command runs one command and prints its peak RSS and exit
// code, for council-bench:
//
//	launcher PROGRAM [ARG]...
//
// prints "maxrss=<bytes> exit=<code>" and exits 0 (1 if the program could
// not be started). The program's stdout is discarded; its stderr passes
// through.
//
// It exists because of how Linux accounts a child's peak RSS: Go starts
// children with vfork, and exec carries the parent's high-water mark into
// the child's ru_maxrss, so a child of a large process reads at least as
// large as its parent. The launcher imports next to nothing, so its own
// mark, and with it the floor of every reading, stays small.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: launcher PROGRAM [ARG]...")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		os.Exit(1)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		rss = int64(ru.Maxrss)
		if runtime.GOOS != "darwin" {
			rss *= 1024 // KiB everywhere but macOS, which says bytes
		}
	}
	fmt.Printf("maxrss=%d exit=%d\n", rss, cmd.ProcessState.ExitCode())
}
