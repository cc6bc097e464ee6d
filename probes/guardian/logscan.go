package guardian

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// DefaultTailBytes is how much of the end of the primary's log the busy and
// fatal-signature scans read. The log can grow to gigabytes; a tick reads
// this much at most.
const DefaultTailBytes = 256 << 10

// DefaultBusyMarker marks a completed request in the council's access log:
//
//	2026-11-27T01:02:03.456Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=12
const DefaultBusyMarker = "request completed"

// DefaultBusyIgnore are substrings of completed-request lines that do not
// mean "busy serving work": the probes' own liveness requests and the
// backend adapters' questions (backend.go). Without this
// the guardian would see its own last successful probe and defer the
// restart of a dead server by a whole busy window.
var DefaultBusyIgnore = append([]string{"path=/v1/models"}, backendPaths()...)

// DefaultFatalSignatures are log lines of a primary that can never serve
// (SPEC section 5): restarting it only loops, so the fallback is promoted.
var DefaultFatalSignatures = []string{
	"Failed to load the default metallib",
	"library not found",
	"Segmentation fault",
	"manifest verification failed",
	"signature invalid",
	"Out of memory",
	"address already in use",
}

// futureSkew is how far in the future a log timestamp may lie and still
// count (as age 0): a little clock skew between writers is normal, a line
// dated hours ahead is garbage and must not make the server look busy.
const futureSkew = 5 * time.Second

// ReadTail returns at most max bytes from the end of the file at path. When
// the tail starts inside a line, that partial first line is dropped, so
// every returned line is whole (a line longer than max is lost, which is
// the price of never reading the whole file). A missing file returns an
// error for which errors.Is(err, fs.ErrNotExist) holds.
func ReadTail(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read log tail: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read log tail: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read log tail %s: not a regular file", path)
	}
	if max <= 0 {
		max = DefaultTailBytes
	}
	start := max64(fi.Size()-max, 0)
	buf := make([]byte, fi.Size()-start)
	n, err := f.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read log tail %s: %w", path, err)
	}
	buf = buf[:n] // the file may have been truncated meanwhile
	if start > 0 {
		// Did the tail start at a line boundary? Only if the byte before
		// it is a newline.
		prev := make([]byte, 1)
		if _, err := f.ReadAt(prev, start-1); err != nil || prev[0] != '\n' {
			if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				buf = buf[i+1:]
			} else {
				buf = nil
			}
		}
	}
	return buf, nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// IsNotExist reports whether err means the log does not exist (yet).
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// LastCompleted returns the timestamp of the newest line in tail that
// contains marker, contains none of ignore, and starts with an RFC 3339
// timestamp no later than now+5s. Lines without a parseable leading
// timestamp are skipped: only the access-log format is trusted.
func LastCompleted(tail []byte, marker string, ignore []string, now time.Time) (time.Time, bool) {
	if marker == "" {
		return time.Time{}, false
	}
	for rest := tail; len(rest) > 0; {
		var line []byte
		rest, line = lastLine(rest)
		if !bytes.Contains(line, []byte(marker)) || containsAny(line, ignore) {
			continue
		}
		ts, ok := leadingTime(line)
		if !ok || ts.After(now.Add(futureSkew)) {
			continue
		}
		return ts, true
	}
	return time.Time{}, false
}

// Busy reports whether tail shows a completed request within window of now,
// and how old the newest one is (0 if it is dated slightly in the future).
func Busy(tail []byte, marker string, ignore []string, now time.Time, window time.Duration) (age time.Duration, busy bool) {
	ts, ok := LastCompleted(tail, marker, ignore, now)
	if !ok {
		return 0, false
	}
	age = max(now.Sub(ts), 0)
	return age, age <= window
}

// Fatal is a fatal signature found in the primary's log.
type Fatal struct {
	Signature string // the configured signature that matched
	Line      string // the log line, trimmed and cut to 200 bytes
}

// FindFatal returns the newest line of tail that contains one of sigs
// (case-insensitively), unless a line containing marker (a completed
// request) follows it: a binary that served after printing the signature
// is not one that can never serve, and the old line must not trigger a
// promotion forever after the operator restored the primary.
func FindFatal(tail []byte, sigs []string, marker string) (Fatal, bool) {
	type sig struct{ orig, low string }
	var want []sig
	for _, s := range sigs {
		if s = strings.TrimSpace(s); s != "" {
			want = append(want, sig{s, strings.ToLower(s)})
		}
	}
	if len(want) == 0 {
		return Fatal{}, false
	}
	for rest := tail; len(rest) > 0; {
		var line []byte
		rest, line = lastLine(rest)
		if marker != "" && bytes.Contains(line, []byte(marker)) {
			return Fatal{}, false
		}
		low := strings.ToLower(string(line))
		for _, s := range want {
			if strings.Contains(low, s.low) {
				return Fatal{Signature: s.orig, Line: clip(strings.TrimSpace(string(line)), 200)}, true
			}
		}
	}
	return Fatal{}, false
}

// lastLine splits the last line off b (without its newline).
func lastLine(b []byte) (rest, line []byte) {
	b = bytes.TrimRight(b, "\r\n")
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		return nil, b
	}
	return b[:i], bytes.TrimRight(b[i+1:], "\r")
}

func containsAny(line []byte, subs []string) bool {
	for _, s := range subs {
		if s != "" && bytes.Contains(line, []byte(s)) {
			return true
		}
	}
	return false
}

// leadingTime parses the RFC 3339 timestamp that starts line.
func leadingTime(line []byte) (time.Time, bool) {
	tok := line
	if i := bytes.IndexAny(line, " \t"); i >= 0 {
		tok = line[:i]
	}
	if len(tok) < len("2006-01-02T15:04:05Z") || len(tok) > 40 {
		return time.Time{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(tok))
	if err != nil {
		return time.Time{}, false
	}
	return ts, true
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}
