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
		{"template tokens are a leak, not garbage", "4<|im_end|><|im_start|>", ""},
		{"mostly control characters", "ok\x01\x02\x03", "3 of 5 characters"},
		{"a loop is not garbage (it is its own reason)", strings.Repeat("the ", 20), ""},
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
		{"all expected substrings", p, answer{Text: "the answer is 42", FinishReason: "stop"}, ""},
		{"one substring missing", p, answer{Text: "the answer is 41", FinishReason: "stop"}, `missing "42"`},
		{"substrings are case-sensitive", p, answer{Text: "ANSWER 42", FinishReason: "stop"}, `missing "answer"`},
		{"many missing are summarised", many, answer{Text: "nothing", FinishReason: "stop"}, "and 2 more"},
		{"regex matches", pre, answer{Text: "PARIS.", FinishReason: "stop"}, ""},
		{"regex does not match", pre, answer{Text: "Parisian", FinishReason: "stop"}, "no match for"},
		{"request error first", p, answer{Err: errors.New("HTTP 500: boom")}, "HTTP 500: boom"},
		{"empty answer", p, answer{Text: "  \n", FinishReason: "stop"}, "empty answer (finish_reason stop)"},
		{"garbage before expectations", p, answer{Text: "42 answer " + strings.Repeat("\x00", 20), FinishReason: "stop"}, "garbage"},
		{"a leak is named, not taken for garbage", p, answer{Text: "4<|im_end|>", FinishReason: "stop"}, `template leak: "<|im_end|>"`},
		{"the ending before expectations", p, answer{Text: "the answer is 42 and", FinishReason: "length"}, `finish_reason "length", want "stop"`},
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
