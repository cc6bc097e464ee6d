package manifest

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that whatever it accepts obeys
// the documented rules, and that Write gives back a manifest Parse reads as
// the same entries. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(hexA + "  model.safetensors\n" + hexB + " *tok/tokenizer.json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data), "/root")
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("error without a line number: %v", err)
			}
			return
		}
		for _, e := range m.Entries {
			if !isHex64(e.SHA256) || strings.ToLower(e.SHA256) != e.SHA256 {
				t.Fatalf("accepted digest %q", e.SHA256)
			}
			if e.Path == "" || e.Path != filepath.Clean(e.Path) || strings.IndexByte(e.Path, 0) >= 0 {
				t.Fatalf("accepted path %q", e.Path)
			}
			if abs := m.Abs(e); !filepath.IsAbs(e.Path) && !strings.HasPrefix(abs, "/root/") {
				t.Fatalf("path %q resolves outside the root: %s", e.Path, abs)
			}
		}
		var buf bytes.Buffer
		if err := Write(&buf, m.Entries); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(&buf, "/root")
		if err != nil {
			t.Fatalf("Parse(Write(m)): %v\n%q", err, buf.String())
		}
		strip := func(es []Entry) []Entry {
			out := make([]Entry, len(es))
			for i, e := range es {
				e.Line = 0
				out[i] = e
			}
			return out
		}
		if !reflect.DeepEqual(strip(again.Entries), strip(m.Entries)) {
			t.Fatalf("round trip changed the entries:\n%#v\n%#v", again.Entries, m.Entries)
		}
	})
}
