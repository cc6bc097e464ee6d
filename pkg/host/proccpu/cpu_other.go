//go:build !linux && !darwin

package proccpu

import (
	"context"
	"time"
)

// cpuTime asks ps, the portable way on systems without a Linux /proc.
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
