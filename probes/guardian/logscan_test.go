package guardian

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)

// access renders a council-sim access-log line completed at t.
func access(t time.Time, path string) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z") + " INFO request completed method=POST path=" + path + " status=200 duration_ms=812"
}

func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

func TestBusy(t *testing.T) {
	chat := "/v1/chat/completions"
	tests := []struct {
		name    string
		log     []byte
		ignore  []string
		wantAge time.Duration
		busy    bool
	}{
		{"empty log", nil, nil, 0, false},
		{"recent chat completion", lines(access(now.Add(-12*time.Second), chat)), nil, 12 * time.Second, true},
		{"exactly at the window", lines(access(now.Add(-90*time.Second), chat)), nil, 90 * time.Second, true},
		{"older than the window", lines(access(now.Add(-91*time.Second), chat)), nil, 91 * time.Second, false},
		{"newest line wins", lines(access(now.Add(-5*time.Minute), chat), access(now.Add(-3*time.Second), chat)), nil, 3 * time.Second, true},
		{"newest line wins even if older ones are recent", lines(access(now.Add(-3*time.Second), chat), access(now.Add(-5*time.Minute), chat)), nil, 5 * time.Minute, false},
		{"own liveness probes are ignored", lines(access(now.Add(-40*time.Second), chat), access(now.Add(-1*time.Second), "/v1/models")),
			defaultBusyIgnore, 40 * time.Second, true},
		{"only liveness probes: not busy", lines(access(now.Add(-1*time.Second), "/v1/models")), defaultBusyIgnore, 0, false},
		{"canceled requests did not complete", lines(now.Add(-time.Second).Format(time.RFC3339) + " WARN request canceled method=POST path=" + chat), nil, 0, false},
		{"marker without a leading timestamp is skipped", lines("INFO request completed somewhere", "[2026-04-20 11:59:59] request completed"), nil, 0, false},
		{"RFC 3339 with offset and no fraction", lines("2026-04-20T13:59:30+02:00 INFO request completed method=POST"), nil, 30 * time.Second, true},
		{"slight clock skew counts as age 0", lines(access(now.Add(2*time.Second), chat)), nil, 0, true},
		{"far-future garbage does not make it busy forever", lines(access(now.Add(-10*time.Minute), chat), access(now.Add(3*time.Hour), chat)), nil, 10 * time.Minute, false},
		{"CRLF line endings", []byte(access(now.Add(-7*time.Second), chat) + "\r\n"), nil, 7 * time.Second, true},
		{"no trailing newline", []byte(access(now.Add(-7*time.Second), chat)), nil, 7 * time.Second, true},
		{"other lines after the completion", lines(access(now.Add(-20*time.Second), chat), "2026-04-20T11:59:59Z INFO loading weights", "garbage \x00\xff"), nil, 20 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			age, busy := busyInLog(tt.log, defaultBusyMarker, tt.ignore, now, defaultBusyWindow)
			if busy != tt.busy || (tt.wantAge != 0 && age != tt.wantAge) {
				t.Errorf("busyInLog = (%s, %v), want (%s, %v)", age, busy, tt.wantAge, tt.busy)
			}
		})
	}
}

func TestBusyMarkerIsConfigurable(t *testing.T) {
	log := lines(now.Add(-time.Second).Format(time.RFC3339Nano) + " finished request id=7")
	if _, busy := busyInLog(log, defaultBusyMarker, nil, now, defaultBusyWindow); busy {
		t.Error("default marker matched a line without it")
	}
	if _, busy := busyInLog(log, "finished request", nil, now, defaultBusyWindow); !busy {
		t.Error("custom marker did not match")
	}
	if _, busy := busyInLog(log, "", nil, now, defaultBusyWindow); busy {
		t.Error("an empty marker must match nothing, not every line")
	}
}

// gin renders Ollama's request line (gin's default logger), logged at t in
// local time, to the second.
func gin(t time.Time, method, path string) string {
	return "[GIN] " + t.In(time.Local).Format("2006/01/02 - 15:04:05") + " | 200 |  1.203456789s |       127.0.0.1 | " + method + "      \"" + path + "\""
}

// An Ollama primary logs gin lines, not the council's: a recent chat in
// one is work, the guardian's own questions in one are not.
func TestBusyFromOllamaLines(t *testing.T) {
	if _, busy := busyInLog(lines(gin(now.Add(-12*time.Second), "POST", "/v1/chat/completions")), defaultBusyMarker, defaultBusyIgnore, now, defaultBusyWindow); !busy {
		t.Error("a recent gin chat line is not busy")
	}
	if _, busy := busyInLog(lines(gin(now.Add(-2*time.Minute), "POST", "/api/chat")), defaultBusyMarker, defaultBusyIgnore, now, defaultBusyWindow); busy {
		t.Error("an old gin line is busy")
	}
	for _, path := range []string{"/api/version", "/api/ps", "/api/tags", "/v1/models"} {
		if _, busy := busyInLog(lines(gin(now.Add(-time.Second), "GET", path)), defaultBusyMarker, defaultBusyIgnore, now, defaultBusyWindow); busy {
			t.Errorf("GET %s in a gin line counted as busy", path)
		}
	}
	// A request served after a fatal line: the binary can serve.
	if _, ok := findFatal(lines("Segmentation fault", gin(now, "POST", "/api/chat")), defaultFatalSignatures, defaultBusyMarker); ok {
		t.Error("a gin request after the fatal line did not clear it")
	}
}

// The guardian's own questions to the server are not work: they must not
// make the primary look busy.
func TestBackendQuestionsAreNotBusy(t *testing.T) {
	now := time.Date(2026, 12, 2, 15, 0, 10, 0, time.UTC)
	for _, path := range []string{"/health", "/props", "/version", "/metrics", "/api/version", "/api/ps", "/api/tags", "/api/v0/models"} {
		line := "2026-12-02T15:00:05.000Z INFO request completed method=GET path=" + path + " status=200 duration_ms=1\n"
		if _, busy := busyInLog([]byte(line), defaultBusyMarker, defaultBusyIgnore, now, 90*time.Second); busy {
			t.Errorf("GET %s counted as busy", path)
		}
	}
	chat := "2026-12-02T15:00:05.000Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=900\n"
	if _, busy := busyInLog([]byte(chat), defaultBusyMarker, defaultBusyIgnore, now, 90*time.Second); !busy {
		t.Error("a chat completion no longer counts as busy")
	}
}

func TestFindFatal(t *testing.T) {
	chat := "/v1/chat/completions"
	tests := []struct {
		name    string
		log     []byte
		sigs    []string
		wantSig string
	}{
		{"clean log", lines("2026-04-20T11:00:00Z INFO loading weights", access(now, chat)), defaultFatalSignatures, ""},
		{"metallib", lines("2026-04-20T11:00:00Z INFO start", "MLX error: Failed to load the default metallib. library not found"), defaultFatalSignatures, "Failed to load the default metallib"},
		{"segfault from the wrapper", lines("/bin/sh: line 1: 4242 Segmentation fault: 11  sanctum-mlx"), defaultFatalSignatures, "Segmentation fault"},
		{"case-insensitive", lines("fatal: OUT OF MEMORY while mapping weights"), defaultFatalSignatures, "Out of memory"},
		{"port taken", lines("Error: Os { code: 48, kind: AddrInUse, message: \"Address already in use\" }"), defaultFatalSignatures, "address already in use"},
		{"manifest", lines("2026-04-20T11:00:00Z ERROR manifest verification failed: sha256 mismatch model-00001"), defaultFatalSignatures, "manifest verification failed"},
		{"served after the signature: stale", lines("Segmentation fault", access(now, chat)), defaultFatalSignatures, ""},
		{"signature after the last completion counts", lines(access(now, chat), "dyld: Library not loaded: libmlx.dylib", "Reason: library not found"), defaultFatalSignatures, "library not found"},
		{"custom signature", lines("panic: weights corrupted"), []string{"weights corrupted"}, "weights corrupted"},
		{"blank signatures never match", lines("anything at all"), []string{"", "  "}, ""},
		{"no signatures configured", lines("Segmentation fault"), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := findFatal(tt.log, tt.sigs, defaultBusyMarker)
			if ok != (tt.wantSig != "") || f.Signature != tt.wantSig {
				t.Fatalf("findFatal = (%+v, %v), want signature %q", f, ok, tt.wantSig)
			}
			if ok && !strings.Contains(strings.ToLower(f.Line), strings.ToLower(tt.wantSig)) {
				t.Errorf("line %q does not hold the signature", f.Line)
			}
		})
	}
}

func TestFindFatalClipsLongLines(t *testing.T) {
	long := strings.Repeat("é", 300) + " Segmentation fault"
	f, ok := findFatal(lines(long), defaultFatalSignatures, defaultBusyMarker)
	if !ok {
		t.Fatal("not found")
	}
	if len(f.Line) > 200+len("…") || !utf8Valid(f.Line) {
		t.Errorf("line not clipped to valid UTF-8 within 200 bytes: %d bytes", len(f.Line))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "?") == s }

func TestReadTail(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		data string
		max  int64
		want string
	}{
		{"smaller than max", "a\nb\n", 100, "a\nb\n"},
		{"cut inside a line drops the partial line", "first line\nsecond\nthird\n", 10, "third\n"},
		{"cut exactly at a line start keeps it", "0123456789\nabcdefghi\n", 10, "abcdefghi\n"},
		{"one line longer than max yields nothing", strings.Repeat("x", 50) + "\n", 10, ""},
		{"empty file", "", 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readTail(write(strings.ReplaceAll(tt.name, " ", "_"), []byte(tt.data)), tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("readTail = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := readTail(filepath.Join(dir, "nope"), 10)
		if !isNotExist(err) {
			t.Errorf("err = %v, want not-exist", err)
		}
	})
	t.Run("directory refused", func(t *testing.T) {
		if _, err := readTail(dir, 10); err == nil || isNotExist(err) {
			t.Errorf("err = %v, want not-a-regular-file", err)
		}
	})
}

// A signature near the start of a big log is outside the tail: the scan
// reads only the end, never the whole file.
func TestReadTailIsBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.log")
	var b bytes.Buffer
	b.WriteString("Segmentation fault (an old crash)\n")
	filler := access(now.Add(-time.Hour), "/v1/models") + "\n"
	for b.Len() < 4<<20 {
		b.WriteString(filler)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tail, err := readTail(p, defaultTailBytes)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(tail)) > defaultTailBytes {
		t.Fatalf("read %d bytes, more than the %d-byte bound", len(tail), defaultTailBytes)
	}
	if _, ok := findFatal(tail, defaultFatalSignatures, "no-marker-here"); ok {
		t.Error("found a signature outside the tail")
	}
}

func TestCheckBinary(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	mkEmpty := func() string {
		p := filepath.Join(dir, "empty")
		os.WriteFile(p, nil, 0o755)
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"executable", mk("ok", 0o755), ""},
		{"owner-only execute", mk("own", 0o700), ""},
		{"missing", filepath.Join(dir, "gone"), "binary missing"},
		{"not executable", mk("plain", 0o644), "not executable"},
		{"empty", mkEmpty(), "binary is empty"},
		{"directory", dir, "not a regular file"},
		{"unset", "", "no path configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkBinary(tt.path)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkBinary = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
