package accesslog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fifokit "github.com/sanctum/council-probes/pkg/testkit/fifo"
)

func access(ts time.Time, path string) string {
	return ts.UTC().Format("2006-01-02T15:04:05.000Z") + " INFO request completed method=POST path=" + path + " status=200 duration_ms=12"
}

// TestCompleted: only completion lines dated inside the window count,
// newest first; ignored paths, other lines and untrusted timestamps never.
func TestCompleted(t *testing.T) {
	from := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	to := from.Add(2 * time.Second)
	chat := "/v1/chat/completions"
	log := strings.Join([]string{
		access(from.Add(-time.Millisecond), chat),        // before
		access(from, chat),                               // at from: in
		"garbage request completed",                      // no timestamp
		access(from.Add(time.Second), "/v1/models"),      // ignored
		"2026-11-27T01:00:01.500Z WARN request canceled", // not a completion
		access(from.Add(1500*time.Millisecond), chat),    // in
		access(to.Add(time.Millisecond), chat),           // after
	}, "\n") + "\n"
	log += "2026-11-27T01:00:01.900Z INFO request completed path=/v1/chat/completions\n" // no duration
	got := Completed([]byte(log), DefaultMarker, DefaultIgnore, from, to)
	want := []Completion{
		{At: from.Add(1900 * time.Millisecond)},
		{At: from.Add(1500 * time.Millisecond), Duration: 12 * time.Millisecond, HasDuration: true},
		{At: from, Duration: 12 * time.Millisecond, HasDuration: true},
	}
	if len(got) != len(want) {
		t.Fatalf("Completed = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) || got[i].Duration != want[i].Duration || got[i].HasDuration != want[i].HasDuration {
			t.Errorf("Completed[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := got[1].Start(); !s.Equal(from.Add(1488 * time.Millisecond)) {
		t.Errorf("Start = %s", s)
	}
	if got := Completed([]byte(log), "", nil, from, to); got != nil {
		t.Errorf("an empty marker matched %v", got)
	}
}

func TestReadTailWholeLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("first line\nsecond\nthird\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTail(p, 10)
	if err != nil || string(got) != "third\n" {
		t.Errorf("ReadTail = %q, %v; want the last whole line", got, err)
	}
	if _, err := ReadTail(filepath.Join(t.TempDir(), "none"), 10); !IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzCompleted: whatever the server wrote into its log, the scan never
// panics, returns only lines dated inside the window, and never a
// negative duration.
func FuzzCompleted(f *testing.F) {
	from := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	f.Add([]byte(access(from.Add(time.Second), "/v1/chat/completions") + "\n"))
	f.Add([]byte("2026-11-27T01:00:01Z INFO request completed duration_ms=99999999999999999999\n"))
	f.Add([]byte("2026-11-27T01:00:01.5+02:00 request completed duration_ms=-5\r\n\n\n"))
	f.Fuzz(func(t *testing.T, tail []byte) {
		to := from.Add(time.Hour)
		cs := Completed(tail, DefaultMarker, DefaultIgnore, from, to)
		for _, c := range cs {
			if c.At.Before(from) || c.At.After(to) {
				t.Fatalf("completion %s outside the window", c.At)
			}
			if c.Duration < 0 {
				t.Fatalf("negative duration %s", c.Duration)
			}
		}
	})
}

// TestLogThatIsNotAFileIsRefused: a server's log that is a FIFO (nothing
// writing to it) or a directory is refused at once by ReadTail and
// Appended, never waited on: opening a FIFO for reading without
// O_NONBLOCK blocks until a writer comes, and would hang the tick.
func TestLogThatIsNotAFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.log")
	fifokit.Make(t, fifo)
	for name, path := range map[string]string{"fifo": fifo, "directory": dir} {
		for fn, read := range map[string]func() error{
			"ReadTail": func() error { _, err := ReadTail(path, 100); return err },
			"Appended": func() error { _, err := Appended(path, Mark{}, 100); return err },
		} {
			fifokit.Refused(t, fn+" of a "+name, read)
		}
	}
}
