package proccpu

import (
	"context"
	"time"
)

// cpuTime reads /proc/<pid>/stat under the reader's proc root.
func (r *Reader) cpuTime(_ context.Context, pid int) (time.Duration, error) {
	root := r.ProcRoot
	if root == "" {
		root = "/proc"
	}
	return ReadStat(root, pid)
}
