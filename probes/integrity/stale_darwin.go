package integrity

import (
	"context"
	"fmt"
)

// platformExe on macOS asks lsof for the process's text vnodes: there is no
// /proc, and the inode of the vnode a process executes is what tells a
// rebuilt binary from the running one.
func platformExe(ctx context.Context, c *staleCheck, pid int, binary string) (runningExe, error) {
	l := c.Lsof
	if l == nil {
		l = &lsof{}
	}
	files, err := l.TextFiles(ctx, pid)
	if err != nil {
		return runningExe{}, fmt.Errorf("text vnode of pid %d: %w", pid, err)
	}
	return lsofExe(files, binary), nil
}
