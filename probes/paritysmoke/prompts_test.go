package paritysmoke

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultPrompts(t *testing.T) {
	set, err := parsePrompts("default", builtinPrompts())
	if err != nil {
		t.Fatalf("the shipped prompt file does not validate: %v", err)
	}
	if len(set.Prompts) != 10 {
		t.Fatalf("default set has %d prompts, want 10", len(set.Prompts))
	}
	// The set must cover every kind of prompt (arithmetic, fact, code,
	// list, long); ids are prefixed by kind.
	kinds := map[string]int{}
	for _, p := range set.Prompts {
		kinds[strings.SplitN(p.ID, "-", 2)[0]]++
	}
	for _, k := range []string{"arith", "fact", "code", "list", "long"} {
		if kinds[k] == 0 {
			t.Errorf("default set has no %s prompt: %v", k, kinds)
		}
	}
	// The long prompt must leave room for about a hundred tokens.
	for _, p := range set.Prompts {
		if strings.HasPrefix(p.ID, "long") && p.MaxTokens < 150 {
			t.Errorf("%s: max_tokens %d is too small for a ~100-token answer", p.ID, p.MaxTokens)
		}
	}
	// LoadPrompts("") is the same embedded set.
	again, err := loadPrompts("")
	if err != nil || len(again.Prompts) != 10 {
		t.Fatalf("LoadPrompts(\"\") = %v, %v", again, err)
	}
}

// The answers the end-to-end tests give the simulator must satisfy the
// default expectations, and only because they contain what is expected.
func TestDefaultExpectationsAgainstSimAnswers(t *testing.T) {
	set, err := loadPrompts("")
	if err != nil {
		t.Fatal(err)
	}
	answers := simAnswers(t)
	for _, p := range set.Prompts {
		t.Run(p.ID, func(t *testing.T) {
			a, ok := answers[p.ID]
			if !ok {
				t.Fatalf("testdata/sim-answers.json has no answer for %s", p.ID)
			}
			if why := problem(p, answer{Text: a, FinishReason: "stop"}); why != "" {
				t.Fatalf("good answer %q fails: %s", a, why)
			}
			if why := problem(p, answer{Text: "I cannot help with that.", FinishReason: "stop"}); why == "" {
				t.Fatalf("an unrelated answer passes: the expectations check nothing")
			}
		})
	}
}

func simAnswers(t testing.TB) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "sim-answers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParsePromptsErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // substrings of the error
	}{
		{"empty file", ``, []string{"x.json:1:1:", "unexpected end of file"}},
		{"not an object", `[1, 2]`, []string{"1:1:", "must be a JSON object"}},
		{"syntax error on line 3", "{\n  \"version\": 1,\n  \"prompts\": [}\n}", []string{"x.json:3:"}},
		{"unknown top-level field", "{\"version\": 1,\n \"promts\": []}", []string{"2:2:", `unknown field "promts"`}},
		{"unknown prompt field points at the key", "{\"version\": 1, \"prompts\": [\n {\"id\": \"a\", \"prompt\": \"p\", \"max_tokens\": 4,\n  \"expct\": [\"x\"]}]}",
			[]string{"3:3:", "prompts[0]", `unknown field "expct"`}},
		{"wrong type", "{\"version\": 1, \"prompts\": [\n {\"id\": \"a\", \"prompt\": \"p\", \"max_tokens\": \"four\", \"expect\": [\"x\"]}]}",
			[]string{"2:29:", "prompts[0].max_tokens", "must be an integer"}},
		{"prompts not an array", `{"version": 1, "prompts": {}}`, []string{"prompts: must be an array"}},
		{"prompt not an object", `{"version": 1, "prompts": ["hello"]}`, []string{"prompts[0]: must be an object"}},
		{"missing version", `{"prompts": [{"id": "a", "prompt": "p", "max_tokens": 4, "expect": ["x"]}]}`, []string{"version: missing"}},
		{"wrong version", `{"version": 2, "prompts": [{"id": "a", "prompt": "p", "max_tokens": 4, "expect": ["x"]}]}`, []string{"unsupported version 2"}},
		{"no prompts", `{"version": 1, "prompts": []}`, []string{"at least one prompt"}},
		{"bad finish_reason", `{"version": 1, "prompts": [{"id": "a", "prompt": "p", "max_tokens": 4, "expect": ["x"], "finish_reason": "eos"}]}`,
			[]string{`prompts[0] (a).finish_reason: is "eos"; want stop, length or any`}},
		{"field twice", `{"version": 1, "version": 1}`, []string{"version: set twice"}},
		{"trailing data", `{"version": 1, "prompts": [{"id": "a", "prompt": "p", "max_tokens": 4, "expect": ["x"]}]} {}`, []string{"after the top-level object"}},
		{"invalid utf-8", "{\"version\": 1, \"note\": \"\xff\"}", []string{"1:25:", "invalid UTF-8"}},
		{"validation errors are all reported with lines", `{"version": 1, "prompts": [
  {"id": "ok", "prompt": "p", "max_tokens": 4, "expect": ["x"]},
  {"id": "", "prompt": " ", "max_tokens": 0},
  {"id": "ok", "prompt": "p", "max_tokens": 9999, "expect": [""], "expect_regex": "("},
  {"id": "bad id!", "prompt": "p", "max_tokens": 4, "expect_regex": ".*"}
]}`, []string{
			"3:3: prompts[1].id: missing",
			"3:3: prompts[1].prompt: missing or blank",
			"3:3: prompts[1].max_tokens: is missing",
			"3:3: prompts[1]: needs expect",
			"4:3: prompts[2] (ok).id: duplicate id (first used at line 2)",
			"prompts[2] (ok).max_tokens: is 9999",
			"prompts[2] (ok).expect[0]: blank substring",
			"prompts[2] (ok).expect_regex: error parsing regexp",
			"5:3: prompts[3] (bad id!).id: must be",
			"prompts[3] (bad id!).expect_regex: matches the empty answer",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePrompts("x.json", []byte(tt.file))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			var pe *parseError
			if !errors.As(err, &pe) {
				t.Errorf("error is not a *ParseError: %T", err)
			}
		})
	}
}

func TestParsePromptsLimits(t *testing.T) {
	big := make([]byte, maxFileBytes+1)
	if _, err := parsePrompts("big", big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized file: %v", err)
	}
	var b strings.Builder
	b.WriteString(`{"version": 1, "prompts": [`)
	for i := 0; i <= maxPrompts; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id": "p` + strings.Repeat("x", i%3) + `", "prompt": "p", "max_tokens": 1, "expect": ["x"]}`)
	}
	b.WriteString(`]}`)
	if _, err := parsePrompts("many", []byte(b.String())); err == nil || !strings.Contains(err.Error(), "too many prompts") {
		t.Fatalf("too many prompts: %v", err)
	}
}

func TestLoadPromptsFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadPrompts(filepath.Join(dir, "missing.json")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	path := filepath.Join(dir, "p.json")
	os.WriteFile(path, []byte(`{"version": 1, "prompts": [{"id": "a", "prompt": "p", "max_tokens": 4, "expect_regex": "(?i)yes"}]}`), 0o644)
	set, err := loadPrompts(path)
	if err != nil {
		t.Fatal(err)
	}
	if re := set.Prompts[0].Regexp(); re == nil || !re.MatchString("YES") {
		t.Fatalf("regex not compiled: %v", re)
	}
}

func TestMarshalPromptsRoundTrip(t *testing.T) {
	set, err := loadPrompts("")
	if err != nil {
		t.Fatal(err)
	}
	data, err := marshalPrompts(set)
	if err != nil {
		t.Fatal(err)
	}
	again, err := parsePrompts("again", data)
	if err != nil {
		t.Fatalf("marshalled set does not parse: %v\n%s", err, data)
	}
	if !equalSets(set, again) {
		t.Fatalf("round trip changed the set")
	}
}

func equalSets(a, b *promptSet) bool {
	strip := func(s *promptSet) promptSet {
		c := *s
		c.Prompts = make([]prompt, len(s.Prompts))
		for i, p := range s.Prompts {
			p.re = nil
			if len(p.Expect) == 0 {
				p.Expect = nil
			}
			c.Prompts[i] = p
		}
		return c
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// FuzzParsePrompts: any input either fails with a positioned error or
// yields a set that survives a marshal/parse round trip unchanged.
func FuzzParsePrompts(f *testing.F) {
	f.Add(builtinPrompts())
	f.Add([]byte(`{"version": 1, "prompts": [{"id": "a", "prompt": "p", "max_tokens": 4, "expect": ["x"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := parsePrompts("fuzz", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			var pe *parseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Col < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		out, err := marshalPrompts(set)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parsePrompts("again", out)
		if err != nil {
			t.Fatalf("valid set does not re-parse: %v\n%s", err, out)
		}
		if !equalSets(set, again) {
			t.Fatalf("round trip changed the set:\n%s", out)
		}
	})
}
