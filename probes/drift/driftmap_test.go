package drift

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseMap(t *testing.T) {
	const home = "/home/op"
	tests := []struct {
		name    string
		in      string
		want    []entry
		wantErr string // substring, including the line number
	}{
		{name: "empty", in: "", want: nil},
		{name: "comments and blanks", in: "# c\n\n   \n  # indented\n", want: nil},
		{
			name: "tilde and absolute",
			in:   "~/Library/LaunchAgents/a.plist = deploy/a.plist\n/opt/x/y.sh=scripts/y.sh\n",
			want: []entry{
				{Deployed: "/home/op/Library/LaunchAgents/a.plist", Canonical: "deploy/a.plist", Line: 1},
				{Deployed: "/opt/x/y.sh", Canonical: "scripts/y.sh", Line: 2},
			},
		},
		{
			name: "paths are cleaned and spaces inside kept",
			in:   "\t/opt//x/../y/My File.txt =  ./a//b/c d.txt \n",
			want: []entry{{Deployed: "/opt/y/My File.txt", Canonical: "a/b/c d.txt", Line: 1}},
		},
		{
			name: "split at the first equals",
			in:   "/opt/a = b=c\n",
			want: []entry{{Deployed: "/opt/a", Canonical: "b=c", Line: 1}},
		},
		{
			name: "two deployed copies share a canonical",
			in:   "/a = x\n/b = x\n",
			want: []entry{{Deployed: "/a", Canonical: "x", Line: 1}, {Deployed: "/b", Canonical: "x", Line: 2}},
		},
		{name: "no equals", in: "# ok\n/opt/a deploy/a\n", wantErr: "m:2: want `<deployed path> = <canonical path>`"},
		{name: "empty deployed", in: " = a\n", wantErr: "m:1: want"},
		{name: "empty canonical", in: "/a =\n", wantErr: "m:1: want"},
		{name: "relative deployed", in: "bin/a = a\n", wantErr: "m:1: deployed path bin/a is not absolute"},
		{name: "other user's home", in: "~root/a = a\n", wantErr: "m:1: deployed path ~root/a: only ~/"},
		{name: "bare tilde", in: "~ = a\n", wantErr: "m:1: deployed path ~ is the home directory"},
		{name: "root", in: "/ = a\n", wantErr: "m:1: deployed path / is a directory"},
		{name: "absolute canonical", in: "/a = /etc/passwd\n", wantErr: "m:1: canonical path /etc/passwd must be relative"},
		{name: "escaping canonical", in: "\n\n/a = x/../../etc\n", wantErr: "m:3: canonical path x/../../etc leaves the repository"},
		{name: "repo root", in: "/a = x/..\n", wantErr: "m:1: canonical path x/.. is the repository root"},
		{name: "inside .git", in: "/a = .git/config\n", wantErr: "m:1: canonical path .git/config is inside .git"},
		{name: "duplicate deployed", in: "/a = x\n/b = y\n/a/./ = z\n", wantErr: "m:3: deployed path /a is already mapped on line 1"},
		{name: "NUL", in: "/a = x\x00y\n", wantErr: "m:1: line contains a NUL"},
		{name: "CRLF line ends", in: "/a = x\r\n/b = y\r\n", want: []entry{{Deployed: "/a", Canonical: "x", Line: 1}, {Deployed: "/b", Canonical: "y", Line: 2}}},
		{name: "carriage return inside", in: "/a = x\ry\n", wantErr: "m:1: line contains a NUL or carriage return"},
		{name: "line too long", in: "/a = x\n/b = " + strings.Repeat("y", maxMapLine) + "\n", wantErr: "m:2: line longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMap(strings.NewReader(tt.in), "m", home)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseMapNoHome(t *testing.T) {
	if _, err := parseMap(strings.NewReader("~/a = a\n"), "m", ""); err == nil || !strings.Contains(err.Error(), "no home directory") {
		t.Fatalf("err = %v", err)
	}
}

// The documented example must parse, so the documentation cannot rot.
func TestExampleMapParses(t *testing.T) {
	entries, err := readMap(filepath.Join("testdata", "example.map"), "/Users/op")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 7 {
		t.Fatalf("got %d entries, want 7: %+v", len(entries), entries)
	}
	if e := entries[2]; e.Deployed != "/Users/op/.config/systemd/user/ollama.service" || e.Canonical != "deploy/systemd/ollama.service" {
		t.Errorf("the first unit's entry = %+v", e)
	}
	if e := entries[0]; e.Deployed != "/Users/op/Library/LaunchAgents/com.sanctum.mlx.plist" || e.Canonical != "deploy/launchd/com.sanctum.mlx.plist" {
		t.Errorf("first entry = %+v", e)
	}
}

func TestReadMapMissing(t *testing.T) {
	_, err := readMap(filepath.Join(t.TempDir(), "nope.map"), "/h")
	if !os.IsNotExist(err) && (err == nil || !strings.Contains(err.Error(), "no such file")) {
		t.Fatalf("err = %v", err)
	}
}

// FuzzParseMap: whatever the input, ParseMap must not panic, every entry
// it accepts must be safe to use (absolute deployed path, canonical inside
// the repo), and formatting the entries and parsing them again must give
// the same entries.
func FuzzParseMap(f *testing.F) {
	for _, s := range []string{
		"~/a = b\n",
		"/opt/a = x/y\n# c\n\n/opt/b=x/y",
		"/a = ../b",
		"~x = y",
		"/a = x\n/a = y\n",
		"=\n",
		" /a/ = ./b/ \r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := parseMap(strings.NewReader(in), "fuzz", "/home/op")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without the source name: %v", err)
			}
			return
		}
		for _, e := range entries {
			if !filepath.IsAbs(e.Deployed) || filepath.Clean(e.Deployed) != e.Deployed {
				t.Fatalf("deployed %q not absolute and clean", e.Deployed)
			}
			if e.Canonical == "" || strings.HasPrefix(e.Canonical, "/") || e.Canonical == ".." ||
				strings.HasPrefix(e.Canonical, "../") || strings.Contains(e.Canonical, "/../") {
				t.Fatalf("canonical %q escapes the repo", e.Canonical)
			}
		}
		var buf bytes.Buffer
		if err := formatMap(&buf, entries); err != nil {
			t.Fatal(err)
		}
		again, err := parseMap(&buf, "again", "/home/op")
		if err != nil {
			t.Fatalf("formatted map does not parse: %v\n%s", err, buf.String())
		}
		for i := range again {
			again[i].Line, entries[i].Line = 0, 0
		}
		if len(entries) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(entries, again) {
			t.Fatalf("round trip changed the entries:\n%+v\n%+v", entries, again)
		}
	})
}
