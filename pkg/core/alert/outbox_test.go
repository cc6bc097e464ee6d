package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeOutbox saves an outbox of n entries at path and returns its bytes.
func writeOutbox(t *testing.T, path string, n, max int) []byte {
	t.Helper()
	o := NewOutbox(path, max)
	at := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		o.Add("forceflow", Notice{Probe: "guardian", Check: "unreachable", Severity: Error,
			Title: "council-guardian: unreachable", Message: fmt.Sprintf("notice %d says \"notice\": no", i), At: at}, at, "refused")
	}
	if err := o.Save(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A truncated outbox keeps its damaged file, salvages every complete entry
// and says how many were lost.
func TestCorruptOutboxIsSalvaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.json")
	data := writeOutbox(t, path, 5, 0)
	// Cut the file inside the fourth entry.
	cut := strings.Index(string(data), `"id": 4`)
	if err := os.WriteFile(path, data[:cut+10], 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := LoadOutbox(path, 0)
	if !errors.Is(err, ErrOutboxCorrupt) {
		t.Fatalf("got %v, want ErrOutboxCorrupt", err)
	}
	if o.Len() != 3 {
		t.Errorf("salvaged %d entries, want the 3 complete ones", o.Len())
	}
	if o.Lost == nil || o.Lost.Lost != 2 || o.Lost.Salvaged != 3 || o.Lost.AtLeast {
		t.Errorf("lost report %+v, want 2 lost, 3 salvaged", o.Lost)
	}
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Errorf("the corrupt file was not kept: %v", err)
	}
	// The report is durable until the dispatcher has sent it.
	if err := o.Save(); err != nil {
		t.Fatal(err)
	}
	again, err := LoadOutbox(path, 0)
	if err != nil || again.Lost == nil || again.Lost.Lost != 2 || again.Len() != 3 {
		t.Errorf("reloaded: %v, lost %+v, %d entries", err, again.Lost, again.Len())
	}
}

// Garbage from the first byte loses nothing that could be counted, and is
// still reported.
func TestGarbageOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.json")
	os.WriteFile(path, []byte("\x00\x00not json"), 0o600)
	o, err := LoadOutbox(path, 0)
	if !errors.Is(err, ErrOutboxCorrupt) || o.Len() != 0 || o.Lost == nil {
		t.Fatalf("got %v, %d entries, lost %+v", err, o.Len(), o.Lost)
	}
}

// An outbox over its bound is trimmed on load, oldest first, and the
// overflow is counted for the report.
func TestOversizedOutboxIsTrimmedOnLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.json")
	writeOutbox(t, path, 30, 100)
	o, err := LoadOutbox(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	if o.Len() != 10 || o.Trimmed != 20 || o.Overflowed != 20 {
		t.Fatalf("len %d, trimmed %d, overflowed %d; want 10, 20, 20", o.Len(), o.Trimmed, o.Overflowed)
	}
	if o.Entries[0].ID != 21 {
		t.Errorf("kept from id %d, want the newest ten (21-30)", o.Entries[0].ID)
	}
}

// A file larger than MaxOutboxBytes is not read whole: it is treated as
// corrupt, salvaged from its head and bounded by max.
func TestHugeOutboxIsReadBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.json")
	o := NewOutbox(path, 1<<20)
	at := time.Now()
	big := strings.Repeat("x", 2000)
	for o.Len()*2100 < MaxOutboxBytes+(1<<20) {
		o.Add("forceflow", Notice{Probe: "guardian", Check: "unreachable", Severity: Error, Message: big, At: at}, at, "down")
	}
	data, _ := json.Marshal(o)
	os.WriteFile(path, data, 0o600)
	got, err := LoadOutbox(path, 50)
	if !errors.Is(err, ErrOutboxCorrupt) {
		t.Fatalf("got %v, want ErrOutboxCorrupt for a %d-byte file", err, len(data))
	}
	if got.Len() != 50 || got.Lost == nil || !got.Lost.AtLeast {
		t.Errorf("len %d, lost %+v; want 50 kept and an at-least report", got.Len(), got.Lost)
	}
}
