package pace

import (
	"strconv"
	"strings"
	"testing"
)

func count(from, to int) string {
	var parts []string
	for i := from; i <= to; i++ {
		parts = append(parts, strconv.Itoa(i))
	}
	return strings.Join(parts, " ")
}

func TestCheckCounting(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answer    string
		tokens    int
		reasoning bool
		want      string // a substring of the reason; "" = a count
	}{
		{"a count, a token per number", count(1, 128), 128, false, ""},
		{"a count, a token per digit", count(1, 46), 128, false, ""},
		{"a count with commas", strings.ReplaceAll(count(1, 40), " ", ", "), 128, false, ""},
		{"a short count that stopped", count(1, 20), 41, false, ""},
		{"a preamble then the count", "Sure! " + count(1, 60), 128, false, ""},
		{"cut mid-number", count(1, 63) + " 6", 128, false, ""},
		{"junk", "\x00\ufffd<unk>\u200b\x07 Ġ", 12, false, "no number"},
		{"a loop", strings.Repeat("1 2 3 ", 40), 120, false, "continue the count"},
		{"a stuck number", "1 2 3 4 " + strings.Repeat("5 ", 60), 128, false, "continue the count"},
		{"too few numbers", "1 2 3 and then I stopped to chat about numbers for a long while", 128, false, "numbers in an answer of 128 tokens"},
		{"reasoning only, no answer yet", "", 128, true, ""},
		{"reasoning, then a short count", count(1, 5), 128, true, ""},
		{"reasoning, then a loop", strings.Repeat("7 ", 20), 128, true, "continue the count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkCounting(tc.answer, tc.tokens, tc.reasoning)
			if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
				t.Errorf("checkCounting = %q, want %q", got, tc.want)
			}
			if strings.ContainsAny(got, "\x00\x07\u200b") {
				t.Errorf("the excerpt is not sanitised: %q", got)
			}
		})
	}
}

func TestExpectedNumbers(t *testing.T) {
	for _, tc := range []struct{ tokens, want int }{{0, 0}, {1, 0}, {2, 1}, {12, 6}, {18, 9}, {21, 10}, {128, 45}} {
		if got := expectedNumbers(tc.tokens); got != tc.want {
			t.Errorf("expectedNumbers(%d) = %d, want %d", tc.tokens, got, tc.want)
		}
	}
	if got := expectedNumbers(2_000_000_000); got <= 0 {
		t.Errorf("expectedNumbers of a lie = %d", got)
	}
}
