package manifest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/hashcache"
)

const (
	hexA = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // sha256("abc")
	hexB = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" // sha256("")
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Entry
	}{
		{
			name: "text and binary mode",
			in:   hexA + "  model-00001.safetensors\n" + hexB + " *sub/config.json\n",
			want: []Entry{
				{Path: "model-00001.safetensors", SHA256: hexA, Line: 1},
				{Path: "sub/config.json", SHA256: hexB, Binary: true, Line: 2},
			},
		},
		{
			name: "uppercase digest, CRLF, blank lines, no final newline",
			in:   "\r\n" + strings.ToUpper(hexA) + "  a b.bin\r\n\n" + hexB + "  /abs/path",
			want: []Entry{
				{Path: "a b.bin", SHA256: hexA, Line: 2},
				{Path: "/abs/path", SHA256: hexB, Line: 4},
			},
		},
		{
			name: "BSD tag style",
			in:   "SHA256 (weights (v2).bin) = " + hexA + "\n",
			want: []Entry{{Path: "weights (v2).bin", SHA256: hexA, Line: 1}},
		},
		{
			name: "GNU escapes",
			in:   `\` + hexA + `  new\nline\\back` + "\n",
			want: []Entry{{Path: "new\nline\\back", SHA256: hexA, Line: 1}},
		},
		{
			name: "path is cleaned, climbing inside the root is fine",
			in:   hexA + "  ./a/../b//c\n",
			want: []Entry{{Path: "b/c", SHA256: hexA, Line: 1}},
		},
		{
			name: "empty manifest",
			in:   "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(tt.in), "/weights")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Entries, tt.want) {
				t.Fatalf("entries =\n%#v\nwant\n%#v", m.Entries, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	good := hexA + "  ok.bin\n"
	tests := []struct {
		name string
		in   string
		line int
		msg  string
	}{
		{"short digest", good + hexA[:63] + "  x\n", 2, "64 hex"},
		{"non-hex digest", good + "g" + hexA[1:] + "  x\n", 2, "not 64 hex"},
		{"one space, no mode", hexA + " x\n", 1, "unknown mode"},
		{"universal mode", hexA + " Ux\n", 1, "mode 'U'"},
		{"bits mode", hexA + " ^x\n", 1, "mode '^'"},
		{"no path", hexA + "  \n", 1, "empty path"},
		{"just a path", "model.bin\n", 1, "want"},
		{"escapes the root", good + good[:64] + "  ../secrets\n", 2, "leaves the manifest's directory"},
		{"escapes after cleaning", hexA + "  a/../../b\n", 1, "leaves the manifest's directory"},
		{"names the root", hexA + "  .\n", 1, "manifest's directory"},
		{"duplicate", good + "\n" + hexB + "  ./ok.bin\n", 3, "already listed on line 1"},
		{"bad escape", `\` + hexA + `  a\tb` + "\n", 1, "unknown escape"},
		{"tag without digest", "SHA256 (x)\n", 1, "tag line"},
		{"tag with bad digest", "SHA256 (x) = abc\n", 1, "not 64 hex"},
		{"other algorithm", "SHA1 (x) = " + hexA[:40] + "\n", 1, "only SHA256"},
		{"NUL in path", hexA + "  a\x00b\n", 1, "NUL"},
		{"overlong line", hexA + "  " + strings.Repeat("a", maxLine) + "\n", 1, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), "/weights")
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LineError", err)
			}
			if le.Line != tt.line || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v (line %d), want line %d containing %q", err, le.Line, tt.line, tt.msg)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("line %d:", tt.line)) {
				t.Fatalf("message %q does not name the line", err)
			}
		})
	}
}

func TestEscapeIsDetectable(t *testing.T) {
	_, err := Parse(strings.NewReader(hexA+"  ../../etc/passwd\n"), "/w")
	if !errors.Is(err, ErrEscapesRoot) {
		t.Fatalf("err = %v, want ErrEscapesRoot", err)
	}
}

func TestWriteRoundTrips(t *testing.T) {
	entries := []Entry{
		{Path: "plain.bin", SHA256: hexA, Binary: true},
		{Path: "text mode", SHA256: hexB},
		{Path: "odd\nname\\with\rstuff", SHA256: hexA},
		{Path: " leading space", SHA256: hexB, Binary: true},
	}
	var buf bytes.Buffer
	if err := Write(&buf, entries); err != nil {
		t.Fatal(err)
	}
	m, err := Parse(&buf, "/w")
	if err != nil {
		t.Fatalf("Parse(Write(...)): %v\n%s", err, buf.String())
	}
	for i := range m.Entries {
		m.Entries[i].Line = 0
	}
	if !reflect.DeepEqual(m.Entries, entries) {
		t.Fatalf("round trip =\n%#v\nwant\n%#v", m.Entries, entries)
	}
}

// weightsDir lays out a small model directory and returns it with the
// contents by relative path.
func weightsDir(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"config.json":                      []byte(`{"model_type":"llama"}`),
		"model-00001-of-00002.safetensors": bytes.Repeat([]byte{1, 2, 3, 4}, 300_000),
		"model-00002-of-00002.safetensors": bytes.Repeat([]byte{5, 6, 7}, 200_001),
		"tokenizer/tokenizer.json":         []byte(`{"vocab":{}}`),
		"name with spaces.txt":             []byte("x"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

func writeManifest(t *testing.T, dir string, files map[string][]byte) string {
	t.Helper()
	var entries []Entry
	for name, data := range files {
		sum := sha256.Sum256(data)
		entries = append(entries, Entry{Path: name, SHA256: hex.EncodeToString(sum[:]), Binary: true})
	}
	var buf bytes.Buffer
	if err := Write(&buf, entries); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "weights.sha256")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func newCache(t *testing.T) *hashcache.Cache {
	t.Helper()
	c, warn := hashcache.Open(filepath.Join(t.TempDir(), "cache.json"), hashcache.Options{
		Workers: 2,
		Now:     func() time.Time { return time.Now().Add(time.Minute) },
	})
	if warn != nil {
		t.Fatal(warn)
	}
	return c
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name           string
		damage         func(t *testing.T, dir string)
		wantMismatched []string
		wantMissing    []string
		wantUnreadable []string
	}{
		{name: "intact", damage: func(*testing.T, string) {}},
		{
			name: "one weight file tampered",
			damage: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "model-00002-of-00002.safetensors")
				f, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteAt([]byte{0xff}, 123_456); err != nil {
					t.Fatal(err)
				}
			},
			wantMismatched: []string{"model-00002-of-00002.safetensors"},
		},
		{
			name: "one file missing, one replaced by a directory",
			damage: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "tokenizer/tokenizer.json")); err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, "config.json")
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantMissing:    []string{"tokenizer/tokenizer.json"},
			wantUnreadable: []string{"config.json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, files := weightsDir(t)
			manifestPath := writeManifest(t, dir, files)
			tt.damage(t, dir)

			rep, err := Verify(context.Background(), manifestPath, newCache(t))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Files != len(files) {
				t.Errorf("Files = %d, want %d", rep.Files, len(files))
			}
			var mismatched, unreadable []string
			for _, m := range rep.Mismatched {
				mismatched = append(mismatched, m.Path)
				if m.Got == m.Want || len(m.Got) != 64 {
					t.Errorf("mismatch %+v does not carry both digests", m)
				}
			}
			for _, u := range rep.Unreadable {
				unreadable = append(unreadable, u.Path)
			}
			if !reflect.DeepEqual(mismatched, tt.wantMismatched) ||
				!reflect.DeepEqual(rep.Missing, tt.wantMissing) ||
				!reflect.DeepEqual(unreadable, tt.wantUnreadable) {
				t.Fatalf("report: mismatched %v missing %v unreadable %v; want %v %v %v",
					mismatched, rep.Missing, unreadable, tt.wantMismatched, tt.wantMissing, tt.wantUnreadable)
			}
			bad := append(append(append([]string{}, tt.wantMismatched...), tt.wantMissing...), tt.wantUnreadable...)
			if rep.OK() != (len(bad) == 0) {
				t.Errorf("OK() = %v with bad files %v", rep.OK(), bad)
			}
			if len(bad) > 0 {
				msg := rep.Err().Error()
				if !strings.HasPrefix(msg, "manifest verification failed") {
					t.Errorf("Err() = %q, want the guardian's fatal signature prefix", msg)
				}
				for _, name := range bad {
					if !strings.Contains(msg, name) {
						t.Errorf("Err() = %q does not name %s", msg, name)
					}
				}
			} else if rep.Err() != nil {
				t.Errorf("Err() = %v for a clean report", rep.Err())
			}
		})
	}
}

func TestVerifyUsesTheCache(t *testing.T) {
	dir, files := weightsDir(t)
	m, err := ParseFile(writeManifest(t, dir, files))
	if err != nil {
		t.Fatal(err)
	}
	c := newCache(t)
	for range 2 {
		rep, err := m.Verify(context.Background(), c)
		if err != nil || !rep.OK() {
			t.Fatalf("Verify = %+v, %v", rep, err)
		}
	}
	if s := c.Stats(); s.Misses != len(files) || s.Hits != len(files) {
		t.Fatalf("Stats = %+v, want each file read once and then served from the cache", s)
	}
}

func TestVerifyCancelled(t *testing.T) {
	dir, files := weightsDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Verify(ctx, writeManifest(t, dir, files), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestRealShasumOutput checks the parser against the tools whose format it
// claims to read, when they are installed.
func TestRealShasumOutput(t *testing.T) {
	dir, files := weightsDir(t)
	var names []string
	for name := range files {
		names = append(names, name)
	}
	tools := [][]string{
		{"shasum", "-a", "256"},
		{"shasum", "-a", "256", "-b"},
		{"shasum", "-a", "256", "--tag"},
		{"sha256sum"},
		{"sha256sum", "-b"},
		{"sha256sum", "--tag"},
	}
	for _, argv := range tools {
		t.Run(strings.Join(argv, " "), func(t *testing.T) {
			if _, err := exec.LookPath(argv[0]); err != nil {
				t.Skipf("%s not installed", argv[0])
			}
			cmd := exec.Command(argv[0], append(argv[1:], names...)...)
			cmd.Dir = dir
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: %v", argv, err)
			}
			path := filepath.Join(dir, "weights.sha256")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(context.Background(), path, nil)
			if err != nil || !rep.OK() || rep.Files != len(files) {
				t.Fatalf("Verify = %+v, %v\nmanifest:\n%s", rep, err, out)
			}
		})
	}
}
