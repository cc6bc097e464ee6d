package ctxwindow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fifokit "github.com/sanctum/council-probes/pkg/testkit/fifo"
)

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestReadSince: the first read learns the end; later reads return the
// whole lines written since, leave a line being written for the next one,
// start over when the file was replaced, and keep within the bound.
func TestReadSince(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	now := time.Date(2026, 12, 7, 3, 30, 0, 0, time.UTC)
	appendTo(t, path, "old line 1\nold line 2\n")

	r, err := readSince(path, logCursor{}, 1<<20, now)
	if err != nil || !r.First || len(r.Lines) != 0 || r.Next.Offset != 22 {
		t.Fatalf("first read: %+v, %v", r, err)
	}
	appendTo(t, path, "new 1\nnew 2\npartial")
	r, err = readSince(path, r.Next, 1<<20, now.Add(time.Hour))
	if err != nil || r.First || r.Restarted || strings.Join(r.Lines, "|") != "new 1|new 2" || !r.Since.Equal(now) {
		t.Fatalf("second read: %+v, %v", r, err)
	}
	appendTo(t, path, " ends here\n")
	r, err = readSince(path, r.Next, 1<<20, now.Add(2*time.Hour))
	if err != nil || strings.Join(r.Lines, "|") != "partial ends here" {
		t.Fatalf("third read: %+v, %v", r, err)
	}
	r2, err := readSince(path, r.Next, 1<<20, now.Add(3*time.Hour))
	if err != nil || len(r2.Lines) != 0 {
		t.Fatalf("nothing new: %+v, %v", r2, err)
	}

	// Rotated: a new file, longer than the old offset, with other bytes.
	if err := os.WriteFile(path, []byte(strings.Repeat("rotated line\n", 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	r3, err := readSince(path, r.Next, 1<<20, now)
	if err != nil || !r3.Restarted || len(r3.Lines) != 10 {
		t.Fatalf("after rotation: restarted %t, %d lines, %v", r3.Restarted, len(r3.Lines), err)
	}
	// Truncated to nothing, then a line.
	os.WriteFile(path, []byte("fresh\n"), 0o644)
	r4, err := readSince(path, r3.Next, 1<<20, now)
	if err != nil || !r4.Restarted || strings.Join(r4.Lines, "|") != "fresh" {
		t.Fatalf("after truncation: %+v, %v", r4, err)
	}

	// More than the bound: the newest whole lines, the rest counted.
	appendTo(t, path, strings.Repeat("0123456789abcdef\n", 1000))
	r5, err := readSince(path, r4.Next, 4096, now)
	if err != nil || r5.Skipped == 0 || len(r5.Lines) == 0 || len(r5.Lines) > 4096/17 {
		t.Fatalf("bounded: skipped %d, %d lines, %v", r5.Skipped, len(r5.Lines), err)
	}
	for _, l := range r5.Lines {
		if l != "0123456789abcdef" {
			t.Fatalf("a cut line: %q", l)
		}
	}
	if r5.Skipped+int64(17*len(r5.Lines)) != 17*1000 {
		t.Errorf("skipped %d + read %d != written %d", r5.Skipped, 17*len(r5.Lines), 17*1000)
	}

	// Another path is a first read, however close the offsets.
	other := filepath.Join(t.TempDir(), "other.log")
	appendTo(t, other, "x\n")
	if r, err := readSince(other, r5.Next, 1<<20, now); err != nil || !r.First {
		t.Errorf("another --server-log: %+v, %v", r, err)
	}
	if _, err := readSince(filepath.Dir(other), logCursor{}, 1<<20, now); err == nil {
		t.Error("a directory was read as a log")
	}
}

// TestReadSinceRefusesAFIFO: a --server-log that is a FIFO with no writer
// is refused at once; opening it for reading would otherwise wait for a
// writer, for ever.
func TestReadSinceRefusesAFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "server.log")
	fifokit.Make(t, fifo)
	fifokit.Refused(t, "readSince of a FIFO", func() error {
		_, err := readSince(fifo, logCursor{}, 1<<20, time.Now())
		return err
	})
}

// The lines each server writes (see the package doc for their sources).
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		line          string
		kind          string
		prompt, limit int
	}{
		{`time=2026-12-07T03:30:01.123Z level=WARN source=runner.go:153 msg="truncating input prompt" limit=4096 prompt=25933 keep=4 new=4096`, kindTruncated, 25933, 4096},
		{`time=2026-12-07T03:30:01.123Z level=DEBUG source=cache.go:295 msg="context limit hit - shifting" id=0 limit=4096 input=4096 keep=4 discard=2046`, kindShift, 0, 4096},
		{`slot update_slots: id  0 | task 7 | slot context shift, n_keep = 1, n_left = 4094, n_discard = 2047`, kindShift, 0, 0},
		{`srv    send_error: task id = 7, error: request (5274 tokens) exceeds the available context size (4096 tokens), try increasing it`, kindRefused, 5274, 4096},
		{`slot update_slots: id  0 | task 3 | input truncated, n_ctx = 2048, n_keep = 0, n_left = 2048, n_prompt_tokens = 1024`, kindTruncated, 0, 2048},
		{`2026-12-07T03:30:01.123Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=12`, "", 0, 0},
	} {
		e, ok := classify(tc.line)
		if ok != (tc.kind != "") || e.Kind != tc.kind || e.Prompt != tc.prompt || e.Limit != tc.limit {
			t.Errorf("classify(%q) = %+v, %t; want %s prompt %d limit %d", tc.line, e, ok, tc.kind, tc.prompt, tc.limit)
		}
	}
}

// A hostile log line cannot drive a terminal, spell a secret or fill an
// alert.
func TestExcerptSanitises(t *testing.T) {
	line := "\x1b[2J\x1b]0;owned\x07 slot context shift \u202Eevil Authorization: Bearer sk-abcdefghijklmnopqrstuvwxyz " + strings.Repeat("x", 5000)
	e, ok := classify(line)
	if !ok {
		t.Fatal("not classified")
	}
	if strings.ContainsAny(e.Line, "\x1b\x07\u202E") || strings.Contains(e.Line, "sk-abcdefghijklmnopqrstuvwxyz") || len(e.Line) > 210 {
		t.Errorf("excerpt %q (%d bytes): want no control or bidi characters, no token, at most ~200 bytes", e.Line, len(e.Line))
	}
}

func TestCount(t *testing.T) {
	evs := []windowEvent{{Kind: kindTruncated}, {Kind: kindShift}, {Kind: kindTruncated}, {Kind: kindRefused}}
	if got := count(evs); got != "2 prompts truncated, 1 request refused as too long, 1 context shift" {
		t.Errorf("count = %q", got)
	}
}
