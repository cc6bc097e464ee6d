package accesslog

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// want is what a request line must parse to; at is local time for gin.
type want struct {
	format, method, path string
	status               int
	dur                  time.Duration
	at                   string // "" for undated formats
}

// TestParseFormats reads each server's fixture (testdata/formats, sources
// in its README): every request line is found with its method, path,
// status, duration and time, and nothing else is taken for one.
func TestParseFormats(t *testing.T) {
	cases := map[string][]want{
		"ollama-gin.log": {
			{FormatGin, "POST", "/v1/chat/completions", 200, 12500 * time.Microsecond, "2026/12/07 - 06:52:26"},
			{FormatGin, "GET", "/metrics", 404, 3100 * time.Microsecond, "2026/12/07 - 06:52:25"},
			{FormatGin, "POST", "/api/chat", 200, 2*time.Minute + 3*time.Second, "2026/12/07 - 06:52:24"},
			{FormatGin, "POST", "/v1/chat/completions", 200, 1203456789, "2026/12/07 - 06:52:22"},
			{FormatGin, "GET", "/api/version", 200, 512300, "2026/12/07 - 06:52:21"},
		},
		"llama-server.log": {
			{FormatLlamaServer, "POST", "/completion", 200, 0, ""},
			{FormatLlamaServer, "POST", "/v1/chat/completions", 200, 0, ""},
			{FormatLlamaServer, "GET", "/health", 200, 0, ""},
		},
		"vllm-uvicorn.log": {
			{FormatUvicorn, "POST", "/v1/chat/completions", 400, 0, ""},
			{FormatUvicorn, "POST", "/v1/chat/completions", 200, 0, ""},
			{FormatUvicorn, "POST", "/v1/chat/completions", 200, 0, ""},
			{FormatUvicorn, "GET", "/v1/models", 200, 0, ""},
		},
		"council.log": {
			{FormatCouncil, "GET", "/v1/models", 200, time.Millisecond, "2026-11-27T01:02:05Z"},
			{FormatCouncil, "POST", "/v1/chat/completions", 200, 12 * time.Millisecond, "2026-11-27T01:02:03.456Z"},
		},
	}
	for file, wants := range cases {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "formats", file))
			if err != nil {
				t.Fatal(err)
			}
			got := Requests(b, DefaultMarker, nil)
			if len(got) != len(wants) {
				t.Fatalf("%d requests, want %d: %+v", len(got), len(wants), got)
			}
			for i, w := range wants {
				g := got[i]
				if g.Format != w.format || g.Method != w.method || g.Path != w.path || g.Status != w.status || g.Duration != w.dur || g.HasDuration != (w.dur != 0) {
					t.Errorf("request %d = %+v, want %+v", i, g, w)
				}
				switch {
				case w.at == "" && g.Dated():
					t.Errorf("request %d dated %s; the format has no date", i, g.At)
				case w.at != "" && w.format == FormatGin:
					at, _ := time.ParseInLocation(ginTime, w.at, time.Local)
					if !g.At.Equal(at) || g.Precision != time.Second {
						t.Errorf("request %d at %s (precision %s), want %s local", i, g.At, g.Precision, at)
					}
				case w.at != "":
					at, _ := time.Parse(time.RFC3339Nano, w.at)
					if !g.At.Equal(at) {
						t.Errorf("request %d at %s, want %s", i, g.At, at)
					}
				}
			}
		})
	}
}

// One --busy-ignore substring, written in the council format's words,
// ignores the same request in every format.
func TestIgnoreAcrossFormats(t *testing.T) {
	for _, file := range []string{"ollama-gin.log", "vllm-uvicorn.log", "council.log"} {
		b, err := os.ReadFile(filepath.Join("testdata", "formats", file))
		if err != nil {
			t.Fatal(err)
		}
		all := Requests(b, DefaultMarker, nil)
		kept := Requests(b, DefaultMarker, []string{"path=/v1/chat/completions ", "path=/api/version "})
		for _, r := range kept {
			if r.Path == "/v1/chat/completions" || r.Path == "/api/version" {
				t.Errorf("%s: %+v not ignored", file, r)
			}
		}
		if len(kept) == len(all) {
			t.Errorf("%s: nothing ignored", file)
		}
	}
}

// A gin line dated to the second is inside a window if any instant of
// its second is.
func TestCompletedGinSecond(t *testing.T) {
	at, _ := time.ParseInLocation(ginTime, "2026/12/07 - 06:52:22", time.Local)
	line := []byte(`[GIN] 2026/12/07 - 06:52:22 | 200 |  1.2s |  127.0.0.1 | POST     "/v1/chat/completions"` + "\n")
	if got := Completed(line, DefaultMarker, nil, at.Add(900*time.Millisecond), at.Add(5*time.Second)); len(got) != 1 {
		t.Errorf("a window starting late in the line's second: %v", got)
	}
	if got := Completed(line, DefaultMarker, nil, at.Add(time.Second), at.Add(5*time.Second)); len(got) != 0 {
		t.Errorf("a window after the line's second: %v", got)
	}
}

// Appended: what was written after the mark, whole lines only, across a
// rotation; nothing for a log that does not exist.
func TestAppendedSinceMark(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	write := func(s string, flag int) {
		f, err := os.OpenFile(p, flag|os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	m, err := MarkEnd(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Appended(p, m, 0); err != nil || len(got) != 0 {
		t.Fatalf("no log: %q, %v", got, err)
	}
	write("before\nhalf a li", os.O_APPEND)
	if m, err = MarkEnd(p); err != nil {
		t.Fatal(err)
	}
	write("ne\nafter one\nafter two\nbeing writ", os.O_APPEND)
	if got, _ := Appended(p, m, 0); string(got) != "after one\nafter two\n" {
		t.Errorf("Appended = %q", got)
	}
	if got, _ := Appended(p, m, 21); string(got) != "after two\n" {
		t.Errorf("Appended with a limit = %q", got)
	}
	// Rotated: a new file under the same name is read from its start.
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	write("fresh\n", os.O_APPEND)
	if got, _ := Appended(p, m, 0); string(got) != "fresh\n" {
		t.Errorf("after rotation = %q", got)
	}
}

// FuzzParseRequest: whatever a server wrote, a request line parses to a
// method of capital letters, a status of three digits, a path and a
// duration that are not negative; never a panic.
func FuzzParseRequest(f *testing.F) {
	for _, file := range []string{"ollama-gin.log", "llama-server.log", "vllm-uvicorn.log", "council.log"} {
		b, err := os.ReadFile(filepath.Join("testdata", "formats", file))
		if err != nil {
			f.Fatal(err)
		}
		for rest := b; len(rest) > 0; {
			var line []byte
			rest, line = LastLine(rest)
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, ok := ParseRequest(line, DefaultMarker)
		if !ok {
			return
		}
		if r.Duration < 0 || (r.Format != FormatCouncil && (r.Status < 100 || r.Status > 999 || !upperWord(r.Method))) {
			t.Fatalf("bad request %+v from %q", r, line)
		}
	})
}
