package paritysmoke

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestGarbage(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // substring of the reason; "" = not garbage
	}{
		{"plain answer", "The capital of France is Paris.", ""},
		{"code", "def add(a, b):\n    return a + b", ""},
		{"markdown rule and table", "| a | b |\n|---|---|\n| 1 | 2 |\n\n----------------\n", ""},
		{"numbers list", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10", ""},
		{"a few stray replacement characters", "This is a long enough sentence with one \ufffd in it.", ""},
		{"simulator garbage", "\x00\ufffd\x1b[<unk>\u200b\x07ĠÃ\u0083\x7f<0x0F>\ufffd\ufffd\x02", "not printable"},
		{"special tokens", "<unk><unk><unk> ok", "not printable"},
		{"mostly control characters", "ok\x01\x02\x03", "3 of 5 characters"},
		{"one token repeated", strings.Repeat("the ", 20), `"the" repeated 20 times`},
		{"a short loop repeated", strings.Repeat("I am. ", 9), `"I am ." repeated 9 times`},
		{"seven repeats are tolerated", strings.Repeat("yes ", 7), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := garbage(tt.text)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("Garbage(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestProblem(t *testing.T) {
	p := prompt{ID: "p", Expect: []string{"42", "answer"}}
	pre := prompt{ID: "r", ExpectRegex: `(?i)\bparis\b`, re: regexp.MustCompile(`(?i)\bparis\b`)}
	many := prompt{ID: "m", Expect: []string{"a1", "a2", "a3", "a4", "a5"}}
	tests := []struct {
		name string
		p    prompt
		a    answer
		want string // substring; "" = passes
	}{
		{"all expected substrings", p, answer{Text: "the answer is 42"}, ""},
		{"one substring missing", p, answer{Text: "the answer is 41"}, `missing "42"`},
		{"substrings are case-sensitive", p, answer{Text: "ANSWER 42"}, `missing "answer"`},
		{"many missing are summarised", many, answer{Text: "nothing"}, "and 2 more"},
		{"regex matches", pre, answer{Text: "PARIS."}, ""},
		{"regex does not match", pre, answer{Text: "Parisian"}, "no match for"},
		{"request error first", p, answer{Err: errors.New("HTTP 500: boom")}, "HTTP 500: boom"},
		{"empty answer", p, answer{Text: "  \n", FinishReason: "stop"}, "empty answer (finish_reason stop)"},
		{"garbage before expectations", p, answer{Text: "42 answer " + strings.Repeat("\x00", 20)}, "garbage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problem(tt.p, tt.a)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("Problem = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrefixProblem(t *testing.T) {
	tests := []struct {
		name      string
		c         comparison
		minPrefix int
		fails     bool
	}{
		{"exact passes", comparison{Exact: true, Prefix: 2, Divergence: -1}, 8, false},
		{"late divergence passes", comparison{Prefix: 12, Divergence: 12}, 8, false},
		{"divergence at the threshold passes", comparison{Prefix: 8, Divergence: 8}, 8, false},
		{"early divergence fails", comparison{Prefix: 3, Divergence: 3, PrimaryExcerpt: "a", ReferenceExcerpt: "b"}, 8, true},
		{"short answers must match exactly", comparison{Prefix: 1, Divergence: 1}, 8, true},
		{"min-prefix 0 only reports", comparison{Prefix: 0, Divergence: 0}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := prefixProblem(tt.c, tt.minPrefix)
			if (got != "") != tt.fails {
				t.Fatalf("PrefixProblem = %q, want failure %v", got, tt.fails)
			}
			if tt.fails && !strings.Contains(got, "at token") {
				t.Fatalf("reason does not name the position: %q", got)
			}
		})
	}
}
