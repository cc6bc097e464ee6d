package paritysmoke

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fatih/color"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func TestWriteTable(t *testing.T) {
	color.NoColor = true
	ok := answer{Text: "42", Latency: 120 * time.Millisecond, ModelTokens: []string{"42"}}
	results := []result{
		{Prompt: prompt{ID: "arith-add"}, Pass: true, Primary: ok, Reference: &ok, Cmp: &comparison{Exact: true, Prefix: 1, Tokens: 1, RefTokens: 1, Divergence: -1}},
		{Prompt: prompt{ID: "long-healthcheck"}, Pass: true, Primary: answer{Text: "x", Latency: 2400 * time.Millisecond}, Reference: &answer{Latency: 3 * time.Second},
			Cmp: &comparison{Prefix: 40, Tokens: 97, RefTokens: 97, Divergence: 40, PrimaryExcerpt: "…real request…", ReferenceExcerpt: "…real call…"}},
		{Prompt: prompt{ID: "fact-capital"}, Reason: "diverged from the reference at token 3 (< --min-prefix 8): \"Paris ~diverged~\" vs \"Paris\"",
			Primary: answer{Latency: 80 * time.Millisecond}, Reference: &ok, Cmp: &comparison{Prefix: 3, Tokens: 9, Divergence: 3}},
		{Prompt: prompt{ID: "code-json"}, Reason: "timeout after 2s", Primary: answer{Err: errors.New("timeout after 2s"), Latency: 2 * time.Second},
			Reference: &answer{Err: errors.New("HTTP 500")}, RefProblem: "HTTP 500"},
	}
	var b bytes.Buffer
	writeTable(&b, results, true)
	golden(t, "table-reference.golden", b.Bytes())

	b.Reset()
	writeTable(&b, []result{{Prompt: prompt{ID: "arith-add"}, Pass: true, Primary: ok},
		{Prompt: prompt{ID: "fact-water"}, Reason: "garbage: 9 of 12 characters are not printable text", Primary: answer{Text: "\x00", Latency: time.Millisecond}}}, false)
	golden(t, "table.golden", b.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n--- got\n%s--- want\n%s", name, got, want)
	}
}
