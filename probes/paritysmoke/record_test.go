package paritysmoke

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestKeySubstrings(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"a number", "42", []string{"42"}},
		{"numbers before words, in answer order", "12 multiplied by 12 is 144.", []string{"12", "multiplied", "144"}},
		{"capitalised words", "The capital of France is Paris.", []string{"capital", "France", "Paris"}},
		{"identifiers", "def add(a, b):\n    return a + b", []string{"def", "add", "return"}},
		{"only short tokens", "ok", []string{"ok"}},
		{"punctuation only", "!!", []string{"!"}},
		{"stop words skipped", "It is the one.", []string{"It"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keySubstrings(tt.text, 3)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("KeySubstrings(%q) = %q, want %q", tt.text, got, tt.want)
			}
			for _, k := range got {
				if !strings.Contains(tt.text, k) {
					t.Fatalf("key %q is not in the answer", k)
				}
			}
		})
	}
}

func TestGolden(t *testing.T) {
	re := regexp.MustCompile(`(?i)paris`)
	results := []result{
		{Prompt: prompt{ID: "kept", Prompt: "p1", MaxTokens: 4, Expect: []string{"42", "gone"}}, Primary: answer{Text: " 42 \n"}},
		{Prompt: prompt{ID: "regex", Prompt: "p2", MaxTokens: 8, ExpectRegex: re.String(), re: re}, Primary: answer{Text: "PARIS"}},
		{Prompt: prompt{ID: "new", Prompt: "p3", MaxTokens: 8, Expect: []string{"Mercury"}}, Primary: answer{Text: "Jupiter and Saturn"}},
	}
	set := goldenSet(results, "note")
	if set.Version != 1 || set.Note != "note" || len(set.Prompts) != 3 {
		t.Fatalf("Golden = %+v", set)
	}
	checks := []struct {
		expect []string
		regex  string
	}{
		{[]string{"42"}, ""},
		{nil, re.String()},
		{[]string{"Jupiter", "Saturn"}, ""},
	}
	for i, c := range checks {
		p := set.Prompts[i]
		if !reflect.DeepEqual(p.Expect, c.expect) || p.ExpectRegex != c.regex {
			t.Errorf("%s: expect %q regex %q, want %q %q", p.ID, p.Expect, p.ExpectRegex, c.expect, c.regex)
		}
	}
	if set.Prompts[0].Observed != "42" {
		t.Errorf("observed = %q", set.Prompts[0].Observed)
	}
}

func TestWriteGolden(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "golden.json")
	set := &promptSet{Version: 1, Note: recordNote(time.Date(2026, 4, 20, 3, 0, 0, 0, time.UTC), "http://127.0.0.1:1337", ""),
		Prompts: []prompt{{ID: "a", Prompt: "q", MaxTokens: 4, Expect: []string{"x"}, Observed: "x"}}}
	if _, err := writeGolden(path, set, false); err != nil {
		t.Fatal(err)
	}
	got, err := loadPrompts(path)
	if err != nil {
		t.Fatalf("written file does not load: %v", err)
	}
	if !strings.Contains(got.Note, "2026-04-20T03:00:00Z") || !strings.Contains(got.Note, "(server default)") {
		t.Fatalf("note = %q", got.Note)
	}
	before, _ := os.ReadFile(path)
	set.Prompts[0].Expect = []string{"y"}
	if _, err := writeGolden(path, set, false); !errors.Is(err, errRecordExists) {
		t.Fatalf("overwrite without force: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("file changed without --force")
	}
	if _, err := writeGolden(path, set, true); err != nil {
		t.Fatalf("overwrite with force: %v", err)
	}
	if got, _ := loadPrompts(path); got.Prompts[0].Expect[0] != "y" {
		t.Fatal("force did not replace the file")
	}
	// An invalid set is never written.
	bad := &promptSet{Version: 1, Prompts: []prompt{{ID: "a", Prompt: "q", MaxTokens: 0, Expect: []string{"x"}}}}
	if _, err := writeGolden(filepath.Join(dir, "bad.json"), bad, false); err == nil {
		t.Fatal("invalid set written")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("invalid set left a file")
	}
}

// A recorded prompt asks for the ending the known-good backend gave: a
// prompt it answered to max_tokens keeps "length" (for review), a clean
// stop needs no field, a backend that says nothing cannot be held to one.
func TestRecordedFinish(t *testing.T) {
	for _, tc := range []struct {
		old, observed, want string
	}{
		{"", "stop", ""},
		{"", "length", "length"},
		{"length", "stop", ""},
		{"any", "stop", "any"},
		{"", "", "any"},
	} {
		if got := recordedFinish(prompt{FinishReason: tc.old}, tc.observed); got != tc.want {
			t.Errorf("recordedFinish(old %q, observed %q) = %q, want %q", tc.old, tc.observed, got, tc.want)
		}
	}
	set := goldenSet([]result{{Prompt: prompt{ID: "cut", Prompt: "p", MaxTokens: 4, Expect: []string{"1"}},
		Primary: answer{Text: "1 2 3 4", FinishReason: "length"}}}, "note")
	data, err := marshalPrompts(set)
	if err != nil || !strings.Contains(string(data), `"finish_reason": "length"`) {
		t.Fatalf("recorded file %s, %v", data, err)
	}
	back, err := parsePrompts("recorded", data)
	if err != nil || back.Prompts[0].Finish() != finishLength {
		t.Fatalf("the recorded file reads back as %+v, %v", back, err)
	}
}
