package text

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/sanctum/council-probes/pkg/core/redact"
)

// TestClean is the table of what a server may send and what is kept of it.
func TestClean(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain id untouched", "council-sim-27b", "council-sim-27b"},
		{"empty", "", ""},
		{"clear screen (CSI 2J)", "v1\x1b[2Jv2", "v1[2Jv2"},
		{"C1 CSI", "a\u009b2Jb", "a2Jb"},
		{"window title (OSC 0 ... BEL)", "\x1b]0;pwned\x07ollama 0.5", "]0;pwnedollama 0.5"},
		{"clipboard (OSC 52 ... ST)", "\x1b]52;c;aGk=\x1b\\ok", "]52;c;aGk=\\ok"},
		{"bell, NUL, DEL", "a\x07b\x00c\x7fd", "abcd"},
		{"carriage return overwriting a line", "healthy\rDEGRADED", "healthy; DEGRADED"},
		{"right-to-left override", "model\u202Efdp.exe", "modelfdp.exe"},
		{"every bidi embedding and override", "a\u202Ab\u202Bc\u202Cd\u202De\u202Ef", "abcdef"},
		{"bidi isolates", "a\u2066b\u2067c\u2068d\u2069e", "abcde"},
		{"zero-width and BOM", "\ufeffco\u200bun\u200ccil\u200d", "council"},
		{"lines joined", "line1\n\nline2\r\nline3\u2028line4", "line1; line2; line3; line4"},
		{"white space collapsed and trimmed", "  a \t b\u00a0 c  ", "a b c"},
		{"invalid UTF-8 marked", "a\xffb", "a\uFFFDb"},
		{"non-ASCII letters kept", "模型 μ-llama ünïcode", "模型 μ-llama ünïcode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Clean(tc.in)
			if got != tc.want {
				t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := Clean(got); again != got {
				t.Errorf("Clean is not idempotent: %q then %q", got, again)
			}
			for _, r := range got {
				if unicode.In(r, unicode.Cc, unicode.Cf) {
					t.Errorf("Clean(%q) kept %U", tc.in, r)
				}
			}
		})
	}
}

// TestCleanRemovesEveryControlAndFormat runs every rune of categories Cc
// and Cf through Clean.
func TestCleanRemovesEveryControlAndFormat(t *testing.T) {
	for _, tab := range []*unicode.RangeTable{unicode.Cc, unicode.Cf} {
		for _, rg := range tab.R16 {
			for r := rune(rg.Lo); r <= rune(rg.Hi); r += rune(rg.Stride) {
				if got := Clean("a" + string(r) + "b"); strings.ContainsRune(got, r) {
					t.Errorf("Clean kept %U: %q", r, got)
				}
			}
		}
		for _, rg := range tab.R32 {
			for r := rune(rg.Lo); r <= rune(rg.Hi); r += rune(rg.Stride) {
				if got := Clean("a" + string(r) + "b"); strings.ContainsRune(got, r) {
					t.Errorf("Clean kept %U: %q", r, got)
				}
			}
		}
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "4", 10, "4"},
		{"exact", "abcd", 4, "abcd"},
		{"cut, marker inside the bound", "abcdefgh", 6, "abc…"},
		{"cut inside a rune backs off", "ab€cdef", 6, "ab…"},
		{"trailing separators dropped", "one; two; three", 8, "one…"},
		{"too small for the marker", "abcdef", 3, "abc"},
		{"too small inside a rune", "€€", 2, ""},
		{"zero", "abc", 0, ""},
		{"a word cut", "a longer sentence here", 12, "a longer…"},
		{"ends at a separator", "ends at; a separator", 11, "ends at…"},
		{"never splits a UTF-8 sequence", "ééééé", 6, "é…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Cut(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("Cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if len(got) > max(tc.n, 0) {
				t.Errorf("Cut(%q, %d) is %d bytes", tc.in, tc.n, len(got))
			}
			if !utf8.ValidString(got) {
				t.Errorf("Cut produced invalid UTF-8 %q", got)
			}
		})
	}
}

// TestIdentBoundsAMegabyte: a 1 MB model id full of escapes becomes at
// most MaxIdent bytes of plain text.
func TestIdentBoundsAMegabyte(t *testing.T) {
	huge := strings.Repeat("\x1b[2Jmodel\u202E", 1<<20/12)
	got := Ident(huge)
	if len(got) > MaxIdent || !strings.HasSuffix(got, Ellipsis) || strings.ContainsAny(got, "\x1b\u202E") {
		t.Errorf("Ident of a 1 MB id = %q (%d bytes)", got, len(got))
	}
	if Ident("council-sim-27b") != "council-sim-27b" {
		t.Error("Ident changed a plain id")
	}
}

// TestExcerptRedactsBeforeItCuts: a secret at the cut is masked whole, and
// a secret split by a format character is still found.
func TestExcerptRedactsBeforeItCuts(t *testing.T) {
	const token = "sk-council-PLANTED-token-7d41f0"
	redact.Reset()
	redact.AddSecret(token)
	t.Cleanup(redact.Reset)
	for _, in := range []string{
		strings.Repeat("x", 30) + " " + token,
		"token sk-council-PLANTED\u200b-token-7d41f0 here",
		"Authorization: Bearer\tabc.def",
	} {
		got := Excerpt(in, 40)
		if strings.Contains(got, "PLANTED") || strings.Contains(got, "abc.def") || len(got) > 40 {
			t.Errorf("Excerpt(%q) = %q", in, got)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		in    string
		width int
		want  string
	}{
		{"", 10, ""},
		{"  one   two  ", 10, "one two"},
		{"one two three", 7, "one two\n# three"},
		{"one two three", 8, "one two\n# three"},
		{"averyverylongword x", 5, "averyverylongword\n# x"},
		{"a b c d", 3, "a b\n# c d"},
	} {
		if got := Wrap(tc.in, tc.width, "\n# "); got != tc.want {
			t.Errorf("Wrap(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}
