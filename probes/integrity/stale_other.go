//go:build !linux && !darwin

package integrity

import (
	"context"
	"errors"
	"runtime"
)

func platformExe(context.Context, *StaleCheck, int, string) (RunningExe, error) {
	return RunningExe{}, errors.New("stale-process check: finding a process's executable is unsupported on " + runtime.GOOS)
}
