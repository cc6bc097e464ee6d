package integrity

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// platformExe on Linux stats /proc/<pid>/exe, which the kernel resolves to
// the file the process executes, even after that file was replaced or
// deleted; its link text is the path, with " (deleted)" once it is gone.
func platformExe(_ context.Context, c *staleCheck, pid int, _ string) (runningExe, error) {
	link := filepath.Join(c.procRoot(), strconv.Itoa(pid), "exe")
	id, err := statID(link)
	if errors.Is(err, fs.ErrNotExist) {
		return runningExe{}, fmt.Errorf("%w: no process %d", errNotRunning, pid)
	}
	if err != nil {
		return runningExe{}, fmt.Errorf("stat %s: %w", link, err)
	}
	exe := runningExe{IDs: []fileID{id}, Primary: id}
	if target, err := os.Readlink(link); err == nil {
		exe.Path = strings.TrimSuffix(target, " (deleted)")
	}
	return exe, nil
}
