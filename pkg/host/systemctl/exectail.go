package systemctl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"time"
)

// maxStderr bounds what is kept of a command's standard error.
const maxStderr = 4 << 10

// ExecTail runs path with args, no shell, and returns the last max bytes
// of its standard output, from the first whole line on (or its standard
// error, when it failed and printed nothing), and its exit code. Memory
// stays bounded however much the command prints; err is non-nil only when
// it could not run or ctx ended.
func ExecTail(ctx context.Context, path string, args []string, max int64) ([]byte, int, error) {
	return execTail(ctx, path, args, max, nil)
}

// execTail is ExecTail with env as the command's environment (nil: this
// process's).
func execTail(ctx context.Context, path string, args []string, max int64, env []string) ([]byte, int, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stderr tailBuffer
	stderr.max = maxStderr
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, -1, err
	}
	if err := cmd.Start(); err != nil {
		return nil, -1, err
	}
	out := tailBuffer{max: max}
	_, copyErr := io.Copy(&out, stdout)
	err = cmd.Wait()
	b := out.lines()
	if err == nil && copyErr == nil {
		return b, 0, nil
	}
	if ctx.Err() != nil {
		return b, -1, ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		if len(b) == 0 {
			b = stderr.lines()
		}
		return b, ee.ExitCode(), nil
	}
	if err == nil {
		err = copyErr
	}
	return b, -1, err
}

// tailBuffer keeps the last max bytes written to it. It lets the buffer
// grow to twice max before dropping the front, so each byte is moved a
// bounded number of times.
type tailBuffer struct {
	buf []byte
	max int64
	cut bool // bytes were dropped from the front
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	if t.max <= 0 {
		t.cut = t.cut || len(p) > 0
		return len(p), nil
	}
	t.buf = append(t.buf, p...)
	if int64(len(t.buf)) > 2*t.max {
		t.trim()
	}
	return len(p), nil
}

func (t *tailBuffer) trim() {
	if over := int64(len(t.buf)) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
}

// lines is the kept tail from its first whole line on: a line whose start
// was dropped is not a line to match a signature against.
func (t *tailBuffer) lines() []byte {
	t.trim()
	if !t.cut {
		return t.buf
	}
	i := bytes.IndexByte(t.buf, '\n')
	if i < 0 {
		return nil
	}
	return t.buf[i+1:]
}
