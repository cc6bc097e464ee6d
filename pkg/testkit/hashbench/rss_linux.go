package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// On Linux a child's rusage ru_maxrss is useless here: Go starts children
// with vfork, and exec carries the parent's high-water mark into the
// child's figure. VmHWM in /proc/<pid>/status describes only the process's
// own address space, so both sides are measured from it.

// selfPeakRSS is this process's peak resident set in MiB.
func selfPeakRSS() (float64, error) { return vmHWM("self") }

// pipedPeakRSS feeds file to cmd's stdin and reads cmd's peak RSS after the
// last byte was consumed, while it waits for EOF: by then it has done all
// its hashing, and it has not exited yet, so /proc still has it.
func pipedPeakRSS(cmd *exec.Cmd, file string) (float64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	_, cerr := io.Copy(in, f)
	rss, herr := vmHWM(strconv.Itoa(cmd.Process.Pid))
	in.Close()
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", cmd.Path, err, stderr.Bytes())
	}
	if cerr != nil {
		return 0, cerr
	}
	return rss, herr
}

func vmHWM(pid string) (float64, error) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmHWM %q: %w", v, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%s/status", pid)
}
