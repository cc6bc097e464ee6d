// Package accesslog reads the primary server's log the way the probes
// that need it agree on: a bounded tail of the file, or what was appended
// to it since a mark, and the request lines in it, in the formats of the
// servers the council may run (formats.go: the council's own, Ollama's
// gin lines, llama-server's, uvicorn's for vLLM). The guardian defers a
// restart while the log shows recent work; the pace probe does not judge a
// sample taken while the server was serving someone else. The council's
// own lines are trusted only when they start with an RFC 3339 timestamp:
//
//	2026-11-27T01:02:03.456Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=12
package accesslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// DefaultTailBytes is how much of the end of the log a scan reads. The log
// can grow to gigabytes; a tick reads this much at most.
const DefaultTailBytes = 256 << 10

// DefaultMarker marks a completed request.
const DefaultMarker = "request completed"

// DefaultIgnore are substrings of completed-request lines that do not mean
// "busy serving work": the probes' own liveness requests.
var DefaultIgnore = []string{"path=/v1/models"}

// IgnoreWithPaths is DefaultIgnore plus a "path=<p> " substring for each
// of paths, which matches the request in every format (Request.Ignored
// matches its council-format words too). The guardian and pace pass the
// backend adapters' questions (backend.AskedPaths): the guardian asks them
// every tick and pace around each sample, and one probe's questions must
// never read as another's evidence of a busy server.
func IgnoreWithPaths(paths ...string) []string {
	out := append([]string(nil), DefaultIgnore...)
	for _, p := range paths {
		out = append(out, "path="+p+" ")
	}
	return out
}

// ReadTail returns at most max bytes from the end of the file at path. When
// the tail starts inside a line, that partial first line is dropped, so
// every returned line is whole (a line longer than max is lost, which is
// the price of never reading the whole file). A missing file returns an
// error for which errors.Is(err, fs.ErrNotExist) holds.
func ReadTail(path string, max int64) ([]byte, error) {
	const op = "read log tail"
	f, fi, err := OpenLog(path, op)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if max <= 0 {
		max = DefaultTailBytes
	}
	start := fi.Size() - max
	if start < 0 {
		start = 0
	}
	return readLines(f, path, op, start, fi.Size())
}

// OpenLog opens a server's log at path for reading and checks it is a
// regular file. It never waits on a FIFO (O_NONBLOCK: opening one for
// reading with no writer would block the tick forever); a symlink is
// followed (the log is the server's, wherever it is kept). op begins each
// error.
func OpenLog(path, op string) (*os.File, os.FileInfo, error) {
	f, err := atomicfile.OpenRegular(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	return f, fi, nil
}

// readLines returns f's bytes from start to end without a first line
// that began before start: every line returned starts whole (the file may
// have been truncated meanwhile: then less).
func readLines(f *os.File, path, op string, start, end int64) ([]byte, error) {
	buf := make([]byte, end-start)
	n, err := f.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s %s: %w", op, path, err)
	}
	buf = buf[:n]
	if start > 0 {
		// Did it start at a line boundary? Only if the byte before is a
		// newline.
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

// IsNotExist reports whether err means the log does not exist (yet).
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// Completion is one request line (see Request); the name is the
// council format's, whose lines say "request completed".
type Completion = Request

// Completed returns the dated request lines of tail, in any known format
// (see ParseRequest), that contain none of ignore and were logged within
// [from, to] (a line dated to the second counts if any instant of its
// second is inside), newest first.
func Completed(tail []byte, marker string, ignore []string, from, to time.Time) []Completion {
	var out []Completion
	for _, r := range Requests(tail, marker, ignore) {
		if !r.Dated() || r.Latest().Before(from) || r.At.After(to) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// durationField reads " duration_ms=<n>" from line.
func durationField(line []byte) (time.Duration, bool) {
	const key = " duration_ms="
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := line[i+len(key):]
	n := 0
	for n < len(rest) && n < 12 && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(rest[:n]), 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(v) * time.Millisecond, true
}

// IsCompletion reports whether line contains marker and none of ignore.
func IsCompletion(line []byte, marker string, ignore []string) bool {
	if marker == "" || !bytes.Contains(line, []byte(marker)) {
		return false
	}
	for _, s := range ignore {
		if s != "" && bytes.Contains(line, []byte(s)) {
			return false
		}
	}
	return true
}

// LastLine splits the last line off b (without its newline).
func LastLine(b []byte) (rest, line []byte) {
	b = bytes.TrimRight(b, "\r\n")
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		return nil, b
	}
	return b[:i], bytes.TrimRight(b[i+1:], "\r")
}

// LeadingTime parses the RFC 3339 timestamp that starts line.
func LeadingTime(line []byte) (time.Time, bool) {
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
