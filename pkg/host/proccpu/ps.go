package proccpu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// maxPSOutput bounds what is read of ps's output: one short line is
// expected.
const maxPSOutput = 4096

// ParsePSCPUTime parses the output of `ps -o cputime= -p <pid>`:
// [[dd-]hh:]mm:ss[.frac], as BSD/macOS ps prints it ("0:01.23",
// "1:02:03.45") and procps prints it ("00:00:01", "1-02:03:04").
func ParsePSCPUTime(out []byte) (time.Duration, error) {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return 0, fmt.Errorf("parse ps cputime: empty output: %w", ErrFormat)
	}
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("parse ps cputime %q: %w", text.Cut(s, 40), ErrFormat)
	}
	var days int64
	if d, rest, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.ParseInt(d, 10, 32)
		if err != nil || !digits(d) {
			return bad()
		}
		days, s = n, rest
	}
	secPart := s
	frac := ""
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		secPart, frac = s[:i], s[i+1:]
		if frac == "" || len(frac) > 9 {
			return bad()
		}
	}
	parts := strings.Split(secPart, ":")
	if len(parts) < 2 || len(parts) > 3 || (days > 0 && len(parts) != 3) {
		return bad()
	}
	var total int64 // seconds
	for i, p := range parts {
		if len(p) > 6 || !digits(p) {
			return bad()
		}
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return bad()
		}
		if i > 0 && n > 59 {
			return bad()
		}
		total = total*60 + n
	}
	// A hostile or broken ps can print any day count: a time.Duration
	// holds 292 years, so more than that is not a CPU time (and would
	// wrap negative).
	const maxSeconds = int64(1<<63-1)/int64(time.Second) - 1
	if secs := days*86400 + total; secs > maxSeconds {
		return bad()
	}
	d := time.Duration(days*86400+total) * time.Second
	if frac != "" {
		n, err := strconv.ParseUint(frac, 10, 32)
		if err != nil || !digits(frac) {
			return bad()
		}
		for range 9 - len(frac) {
			n *= 10
		}
		d += time.Duration(n)
	}
	return d, nil
}

// digits reports whether s is one or more ASCII digits (no sign).
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// PSCPUTime runs `<ps> -o cputime= -p <pid>` (by argv, never a shell) and
// parses its output. ps exits 1 with no output for a pid that does not
// exist: that is ErrNoProcess.
func PSCPUTime(ctx context.Context, ps string, pid int) (time.Duration, error) {
	var out, errOut limitedBuffer
	out.max, errOut.max = maxPSOutput, maxPSOutput
	err := runPS(ctx, ps, []string{"-o", "cputime=", "-p", strconv.Itoa(pid)}, &out, &errOut)
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && len(bytes.TrimSpace(out.b)) == 0:
		return 0, fmt.Errorf("%s -o cputime= -p %d: exit %d: %w", ps, pid, ee.ExitCode(), ErrNoProcess)
	default:
		return 0, err
	}
	d, err := ParsePSCPUTime(out.b)
	if err != nil {
		return 0, fmt.Errorf("%s -p %d: %w", ps, pid, err)
	}
	return d, nil
}

// runPS runs ps with args by argv into out and errOut. An error says the
// command and ps's own words, and wraps the *exec.ExitError.
func runPS(ctx context.Context, ps string, args []string, out, errOut *limitedBuffer) error {
	cmd := exec.CommandContext(ctx, ps, args...)
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w (%s)", ps, strings.Join(args, " "), err, text.Cut(text.Clean(string(errOut.b)), 200))
	}
	return nil
}

// limitedBuffer keeps the first max bytes written to it and drops the
// rest, so a misbehaving ps cannot fill memory.
type limitedBuffer struct {
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
