//go:build !linux && !darwin

package integrity

import (
	"context"
	"errors"
	"runtime"
)

func platformExe(context.Context, *staleCheck, int, string) (runningExe, error) {
	return runningExe{}, errors.New("stale-process check: finding a process's executable is unsupported on " + runtime.GOOS)
}
