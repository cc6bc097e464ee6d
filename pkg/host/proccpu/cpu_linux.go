package proccpu

import (
	"context"
	"time"
)

// cpuTime reads /proc/<pid>/stat under the reader's proc root.
func (r *Reader) cpuTime(_ context.Context, pid int) (time.Duration, error) {
	return ReadStat(r.procRoot(), pid)
}

// table scans the reader's proc root: no process is started to read it.
func (r *Reader) table(_ context.Context) ([]Proc, error) {
	return ReadProcTable(r.procRoot())
}

func (r *Reader) procRoot() string {
	if r.ProcRoot == "" {
		return "/proc"
	}
	return r.ProcRoot
}
