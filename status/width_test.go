package status

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sanctum/council-probes/pkg/server/backend/detection"
)

// The screen width comes from $COLUMNS, else the terminal, else 100; --wide
// cuts nothing; --json is the whole report whatever the width.
func TestWidthFromColumnsTerminalOrDefault(t *testing.T) {
	dir := filepath.Join("testdata", "demo-end")
	t.Setenv("HOME", "/Users/operator")
	tests := []struct {
		name     string
		columns  string
		terminal int
		args     []string
		want     int // the widest line must be at most this (0: wider than 100)
	}{
		{"COLUMNS wins", "72", 120, nil, 72},
		{"the terminal's width", "", 90, nil, 90},
		{"a bad COLUMNS is ignored", "wide", 0, nil, DefaultWidth},
		{"neither: 100", "", 0, nil, DefaultWidth},
		{"--wide cuts nothing", "72", 0, []string{"--wide"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c := &Command{Stdout: &out, Stderr: io.Discard,
				Now:           func() time.Time { return time.Date(2026, 12, 2, 16, 20, 34, 0, time.UTC) },
				IsTerminal:    func(io.Writer) bool { return false },
				TerminalWidth: func(io.Writer) int { return tt.terminal },
				Getenv:        func(k string) string { return map[string]string{"COLUMNS": tt.columns}[k] },
			}
			args := append([]string{"council-status", "--state-dir", filepath.Join(dir, "state"), "--log-dir", filepath.Join(dir, "logs"),
				"--fallback-lock", filepath.Join(dir, "none.lock")}, tt.args...)
			if code := c.Run(args); code != ExitCritical {
				t.Fatalf("exit %d\n%s", code, out.String())
			}
			widest := 0
			for _, l := range strings.Split(out.String(), "\n") {
				widest = max(widest, utf8.RuneCountInString(l))
			}
			switch {
			case tt.want == 0 && widest <= DefaultWidth:
				t.Errorf("--wide: widest line %d columns, want the full text (> %d)\n%s", widest, DefaultWidth, out.String())
			case tt.want > 0 && widest > tt.want:
				t.Errorf("widest line %d columns, want at most %d\n%s", widest, tt.want, out.String())
			case tt.want > 0 && widest < tt.want-30:
				t.Errorf("widest line %d columns: the width %d was not used\n%s", widest, tt.want, out.String())
			}
		})
	}

	var out bytes.Buffer
	c := &Command{Stdout: &out, Stderr: io.Discard, Now: time.Now, IsTerminal: func(io.Writer) bool { return false },
		Getenv: func(k string) string { return map[string]string{"COLUMNS": "40"}[k] }}
	c.Run([]string{"council-status", "--json", "--state-dir", filepath.Join(dir, "state"), "--log-dir", filepath.Join(dir, "logs")})
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Probes {
		if p.Name == "drift" && (len(p.Channels) != 2 || !strings.Contains(p.Channels[0].Summary, "committed sha256 788efce707490885d26b33608116cb50969f24c0fc463ae3a1590248201d7653")) {
			t.Errorf("--json lost a channel or its full summary: %+v", p.Channels)
		}
	}
}

// Text a server or a file put in a summary or in the backend's detection
// cannot break a line, drive the terminal or reverse a line: no control or
// format character reaches the screen.
func TestControlCharactersAreNotPrinted(t *testing.T) {
	r := Report{GeneratedAt: time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC), Exit: ExitCritical, Result: "CRITICAL",
		Probes: []ProbeStatus{{Name: "canary", Exit: ExitCritical, Result: "CRITICAL", LastSummary: "answer: line one\nline two\x1b[2J",
			Channels: []ChannelStatus{{Check: "answer", Severity: "error", Consecutive: 1, Summary: "bell\a and \x1b]0;title\x07 \u202egnp.exe"}}}},
		Backend: &detection.Cached{Detection: detection.Detection{Kind: detection.Ollama,
			Evidence: "GET /api/version \x1b[2J\x1b]0;owned\x07\x1b]52;c;aGk=\x07\r0.5.1\u202e and GET /api/ps"},
			URL: "http://127.0.0.1:11434", DetectedAt: time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)}}
	for _, wide := range []bool{false, true} {
		var b bytes.Buffer
		if err := WriteText(&b, r, TextOptions{Location: time.UTC, Wide: wide, Width: 200}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, c := range out {
			if c != '\n' && unicode.In(c, unicode.Cc, unicode.Cf) {
				t.Errorf("wide=%v: %U reached the screen:\n%q", wide, c, out)
				break
			}
		}
		if !strings.Contains(out, "line one; line two") || !strings.Contains(out, "backend: ollama at") || !strings.Contains(out, "0.5.1") {
			t.Errorf("wide=%v: a line was lost:\n%q", wide, out)
		}
	}
}
