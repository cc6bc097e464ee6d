package proccpu

import (
	"context"
	"time"
)

// cpuTime asks ps: x/sys/unix gives no per-process CPU time on macOS
// (kern.proc.pid's tick fields are not filled in; proc_pidinfo is not
// wrapped).
func (r *Reader) cpuTime(ctx context.Context, pid int) (time.Duration, error) {
	ps := r.PS
	if ps == "" {
		ps = "ps"
	}
	return PSCPUTime(ctx, ps, pid)
}

// table asks ps for the whole process table, in one exec.
func (r *Reader) table(ctx context.Context) ([]Proc, error) {
	ps := r.PS
	if ps == "" {
		ps = "ps"
	}
	return PSTable(ctx, ps)
}
