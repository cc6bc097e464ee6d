package ctxwindow

import (
	"strings"
	"testing"
)

func TestNeedle(t *testing.T) {
	// The codes and the question alone.
	bare := len(strings.Fields(needleHead)) + len(strings.Fields(needleTail))
	for _, words := range []int{0, 40, 100, 3276} {
		n := buildNeedle(words, "AAAA2222", "ZZZZ9999")
		if got := len(strings.Fields(n.Prompt)); got != n.Words {
			t.Errorf("%d: Words %d, but the prompt has %d", words, n.Words, got)
		}
		if n.Words != max(words, bare) {
			t.Errorf("asked %d words, got %d", words, n.Words)
		}
		if !strings.HasPrefix(n.Prompt, "The first secret code is AAAA2222.") || !strings.Contains(n.Prompt, "The second secret code is ZZZZ9999.") {
			t.Errorf("%d: the codes are not at the ends: %.80q...%q", words, n.Prompt, n.Prompt[max(len(n.Prompt)-160, 0):])
		}
		if i, j := strings.Index(n.Prompt, "AAAA2222"), strings.Index(n.Prompt, "ZZZZ9999"); i > 40 || len(n.Prompt)-j > 200 {
			t.Errorf("%d: first code at %d, last %d bytes from the end", words, i, len(n.Prompt)-j)
		}
	}
	n := buildNeedle(100, "AAAA2222", "ZZZZ9999")
	for _, tc := range []struct {
		answer      string
		first, last bool
	}{
		{"AAAA2222 ZZZZ9999", true, true},
		{"The codes are ZZZZ9999.", false, true},
		{"aaaa2222", false, false},
	} {
		if f, l := n.found(tc.answer); f != tc.first || l != tc.last {
			t.Errorf("found(%q) = %t %t", tc.answer, f, l)
		}
	}
}

func TestNeedleWords(t *testing.T) {
	for _, tc := range []struct {
		window int
		fill   float64
		limit  int
		want   int
	}{
		{4096, 0.8, 131072, 3276},
		{32768, 0.8, 131072, 26214},
		{1 << 30, 0.8, 131072, 131072}, // a window nobody has: bounded
		{4096, 1, 131072, 4096},
	} {
		if got := needleWords(tc.window, tc.fill, tc.limit); got != tc.want {
			t.Errorf("needleWords(%d, %g, %d) = %d, want %d", tc.window, tc.fill, tc.limit, got, tc.want)
		}
	}
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		c := newCode()
		if len(c) != codeLen || strings.Trim(c, codeAlphabet) != "" || seen[c] {
			t.Fatalf("code %q: want %d fresh characters of %s", c, codeLen, codeAlphabet)
		}
		seen[c] = true
	}
}
