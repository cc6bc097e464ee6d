package guardian

import (
	"bytes"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/accesslog"
)

// DefaultTailBytes is how much of the end of the primary's log the busy and
// fatal-signature scans read.
const DefaultTailBytes = accesslog.DefaultTailBytes

// DefaultBusyMarker marks a completed request in the council's access log:
//
//	2026-11-27T01:02:03.456Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=12
const DefaultBusyMarker = accesslog.DefaultMarker

// DefaultBusyIgnore are substrings of completed-request lines that do not
// mean "busy serving work": the probes' own liveness requests and the
// backend adapters' questions (backend.go). Without this
// the guardian would see its own last successful probe and defer the
// restart of a dead server by a whole busy window.
var DefaultBusyIgnore = append(append([]string(nil), accesslog.DefaultIgnore...), backendPaths()...)

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

// ReadTail returns at most max bytes from the end of the log at path, in
// whole lines (see accesslog.ReadTail).
func ReadTail(path string, max int64) ([]byte, error) { return accesslog.ReadTail(path, max) }

// IsNotExist reports whether err means the log does not exist (yet).
func IsNotExist(err error) bool { return accesslog.IsNotExist(err) }

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
		rest, line = accesslog.LastLine(rest)
		if !accesslog.IsCompletion(line, marker, ignore) {
			continue
		}
		ts, ok := accesslog.LeadingTime(line)
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
		rest, line = accesslog.LastLine(rest)
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
