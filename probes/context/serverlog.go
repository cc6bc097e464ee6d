package ctxwindow

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/host/accesslog"
)

// logCursor is where the last tick stopped reading the server's log.
type logCursor struct {
	// Path is the log the cursor belongs to: another --server-log starts
	// afresh.
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	// TailSum is the SHA-256 of the (up to) tailBytes bytes before
	// Offset. When the bytes there are no longer the same, the file was
	// replaced (rotated, or truncated and written again) and is read from
	// its start.
	TailSum string `json:"tail_sum,omitempty"`
	// At is when the cursor was taken: "since" in the pressure report.
	At time.Time `json:"at"`
}

// tailBytes is how much of the log before the cursor identifies it.
const tailBytes = 64

// maxLineBytes bounds one line: a longer one is classified on its start
// (the markers are near the start of every line they appear in).
const maxLineBytes = 4096

// logRead is what one read of the log found.
type logRead struct {
	// Lines are the complete lines written since the cursor.
	Lines []string
	// Next is the cursor after them (a line still being written is left
	// for the next read).
	Next logCursor
	// First: there was no cursor; the read only learned the position.
	First bool
	// Restarted: the file was replaced since the cursor; it was read from
	// its start, and what the old one got after the cursor is lost.
	Restarted bool
	// Skipped counts the bytes not read because there were more than the
	// bound (the oldest are skipped).
	Skipped int64
	// Since is when the cursor read from was taken (zero on a first read).
	Since time.Time
}

// readSince reads what path gained since cur, at most max bytes (the
// newest). With no cursor it reads nothing and returns one at the end of
// the file.
func readSince(path string, cur logCursor, max int64, now time.Time) (logRead, error) {
	f, fi, err := accesslog.OpenLog(path, "read server log")
	if err != nil {
		return logRead{}, err
	}
	defer f.Close()
	size := fi.Size()
	r := logRead{Next: logCursor{Path: path, At: now}, Since: cur.At}
	if cur.Path != path || cur.At.IsZero() {
		r.First = true
		r.Next.Offset = lineStart(f, size)
		r.Next.TailSum, err = sumBefore(f, r.Next.Offset)
		return r, err
	}
	start := cur.Offset
	if sum, err := sumBefore(f, start); start > size || err != nil || sum != cur.TailSum {
		start, r.Restarted = 0, true
	}
	if size-start > max {
		r.Skipped = size - max - start
		start = size - max
	}
	buf := make([]byte, size-start)
	n, err := f.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return logRead{}, fmt.Errorf("read server log %s: %w", path, err)
	}
	buf = buf[:n]
	if r.Skipped > 0 {
		// The bound cut into a line: start at the next whole one.
		i := bytes.IndexByte(buf, '\n')
		r.Skipped += int64(i + 1)
		start += int64(i + 1)
		buf = buf[i+1:]
	}
	whole := bytes.LastIndexByte(buf, '\n') + 1
	for _, line := range bytes.Split(buf[:whole], []byte{'\n'}) {
		if len(line) > 0 {
			r.Lines = append(r.Lines, string(line[:min(len(line), maxLineBytes)]))
		}
	}
	r.Next.Offset = start + int64(whole)
	r.Next.TailSum, err = sumBefore(f, r.Next.Offset)
	return r, err
}

// lineStart is the offset after the last newline before size: the end of
// the last whole line.
func lineStart(f *os.File, size int64) int64 {
	from := max(size-maxLineBytes, 0)
	buf := make([]byte, size-from)
	n, _ := f.ReadAt(buf, from)
	if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
		return from + int64(i) + 1
	}
	return from
}

// sumBefore is the SHA-256 of the (up to) tailBytes bytes before off.
func sumBefore(f *os.File, off int64) (string, error) {
	from := max(off-tailBytes, 0)
	buf := make([]byte, off-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read server log: %w", err)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:]), nil
}

// The kinds of line that say a request lost input to the window.
const (
	kindTruncated = "truncated" // the prompt was cut to fit
	kindRefused   = "refused"   // the request was refused as too long
	kindShift     = "shift"     // the context was shifted: the oldest tokens dropped
)

// windowEvent is one such line.
type windowEvent struct {
	Kind string
	// Prompt is the prompt's length in tokens where the line says it
	// (Ollama's prompt=, llama-server's "request (N tokens)"), else 0.
	Prompt int
	// Limit is the window the line names, else 0.
	Limit int
	// Line is the line, sanitised and bounded, for the alert.
	Line string
}

// marker is one line the server writes, and what it means.
type marker struct {
	contains string
	kind     string
	prompt   *regexp.Regexp // the prompt's tokens, first group
	limit    *regexp.Regexp // the window, first group
}

// markers are Ollama's and llama-server's lines (see the package doc).
var markers = []marker{
	{`msg="truncating input prompt"`, kindTruncated, regexp.MustCompile(`\bprompt=(\d+)`), regexp.MustCompile(`\blimit=(\d+)`)},
	{`input truncated, n_ctx = `, kindTruncated, nil, regexp.MustCompile(`n_ctx = (\d+)`)},
	{`exceeds the available context size`, kindRefused, regexp.MustCompile(`request \((\d+) tokens\)`), regexp.MustCompile(`context size \((\d+) tokens\)`)},
	{`slot context shift`, kindShift, nil, nil},
	{`msg="context limit hit - shifting"`, kindShift, nil, regexp.MustCompile(`\blimit=(\d+)`)},
}

// classify reads one line of the server's log.
func classify(line string) (windowEvent, bool) {
	for _, m := range markers {
		if !strings.Contains(line, m.contains) {
			continue
		}
		return windowEvent{Kind: m.kind, Prompt: number(m.prompt, line), Limit: number(m.limit, line), Line: text.Excerpt(line, text.MaxIdent)}, true
	}
	return windowEvent{}, false
}

func number(re *regexp.Regexp, line string) int {
	if re == nil {
		return 0
	}
	m := re.FindStringSubmatch(line)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0
	}
	return n
}

// windowEvents are the lines of lines that say a request lost input.
func windowEvents(lines []string) []windowEvent {
	var out []windowEvent
	for _, l := range lines {
		if e, ok := classify(l); ok {
			out = append(out, e)
		}
	}
	return out
}

// count is "3 truncated prompts, 1 context shift".
func count(evs []windowEvent) string {
	n := map[string]int{}
	for _, e := range evs {
		n[e.Kind]++
	}
	var parts []string
	for _, k := range []struct{ kind, one, many string }{
		{kindTruncated, "prompt truncated", "prompts truncated"},
		{kindRefused, "request refused as too long", "requests refused as too long"},
		{kindShift, "context shift", "context shifts"},
	} {
		switch n[k.kind] {
		case 0:
		case 1:
			parts = append(parts, "1 "+k.one)
		default:
			parts = append(parts, fmt.Sprintf("%d %s", n[k.kind], k.many))
		}
	}
	return strings.Join(parts, ", ")
}
