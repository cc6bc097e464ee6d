package paritysmoke

import (
	"reflect"
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"whitespace only", " \n\t", nil},
		{"words and punctuation", "The capital is Paris.", []string{"The", "capital", "is", "Paris", "."}},
		{"code", "def add(a, b):\n    return a+b", []string{"def", "add", "(", "a", ",", "b", ")", ":", "return", "a", "+", "b"}},
		{"numbers and identifiers", "x_1 = 3.14", []string{"x_1", "=", "3", ".", "14"}},
		{"unicode letters and marks", "Café H₂O", []string{"Café", "H₂O"}},
		{"symbols one by one", "->", []string{"-", ">"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tokenize(tt.in)
			if !reflect.DeepEqual(got.Toks, tt.want) {
				t.Fatalf("Tokenize(%q) = %q, want %q", tt.in, got.Toks, tt.want)
			}
			for i, tok := range got.Toks {
				if tt.in[got.Offs[i]:got.Offs[i]+len(tok)] != tok {
					t.Fatalf("token %d %q has a wrong offset %d", i, tok, got.Offs[i])
				}
			}
		})
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name         string
		primary, ref answer
		basis        string
		exact        bool
		prefix       int
		divergence   int
		excerpts     [2]string
	}{
		{"identical text", answer{Text: "Paris is the capital."}, answer{Text: "Paris is the capital."}, "text", true, 5, -1, [2]string{}},
		{"whitespace does not count", answer{Text: "Paris is\nthe capital ."}, answer{Text: "Paris is the capital."}, "text", true, 5, -1, [2]string{}},
		{"divergence in text", answer{Text: "one two three four five six seven"}, answer{Text: "one two three FOUR five"}, "text", false, 3, 3,
			[2]string{"one two three four five six seven", "one two three FOUR five"}},
		{"excerpt is cut around the divergence", answer{Text: "a b c d e f g h i j k l"}, answer{Text: "a b c d e f X"}, "text", false, 6, 6,
			[2]string{"…d e f g h i j k…", "…d e f X"}},
		{"one answer is a prefix of the other", answer{Text: "42"}, answer{Text: "42."}, "text", false, 1, 1, [2]string{"42∅", "42."}},
		{"empty primary", answer{Text: ""}, answer{Text: "x"}, "text", false, 0, 0, [2]string{"∅", "x"}},
		{"server tokens when both have them", answer{Text: "ab", ModelTokens: []string{"a", "b"}}, answer{Text: "ab", ModelTokens: []string{"ab"}}, "logprobs", false, 0, 0,
			[2]string{"ab", "ab"}},
		{"text when reasoning was cut from an answer", answer{Text: "ab", ModelTokens: []string{"<think>x</think>", "ab"}, InlineReasoning: true},
			answer{Text: "ab", ModelTokens: []string{"ab"}}, "text", true, 1, -1, [2]string{}},
		{"text when only one has tokens", answer{Text: "ab", ModelTokens: []string{"a", "b"}}, answer{Text: "ab"}, "text", true, 1, -1, [2]string{}},
		{"control characters are escaped", answer{Text: "ok \x00\x07"}, answer{Text: "ok fine"}, "text", false, 1, 1,
			[2]string{`ok \x00\x07`, "ok fine"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compare(tt.primary, tt.ref)
			if c.Basis != tt.basis || c.Exact != tt.exact || c.Prefix != tt.prefix || c.Divergence != tt.divergence {
				t.Fatalf("Compare = %+v, want basis %s exact %v prefix %d divergence %d", c, tt.basis, tt.exact, tt.prefix, tt.divergence)
			}
			if got := [2]string{c.PrimaryExcerpt, c.ReferenceExcerpt}; got != tt.excerpts {
				t.Fatalf("excerpts = %q, want %q", got, tt.excerpts)
			}
		})
	}
}

func TestFromModelTokens(t *testing.T) {
	toks := fromModelTokens([]string{"Hello", ",", " world"})
	if toks.Text != "Hello, world" || !reflect.DeepEqual(toks.Offs, []int{0, 5, 6}) {
		t.Fatalf("FromModelTokens = %+v", toks)
	}
	c := compareTokens(toks, fromModelTokens([]string{"Hello", ",", " there"}), "logprobs")
	if c.Prefix != 2 || !strings.Contains(c.PrimaryExcerpt, "world") || !strings.Contains(c.ReferenceExcerpt, "there") {
		t.Fatalf("CompareTokens = %+v", c)
	}
}
