package paritysmoke

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokens is an answer split into tokens, with each token's byte offset in
// Text so that an excerpt can quote the original answer.
type Tokens struct {
	Text string
	Toks []string
	Offs []int
}

// Len is the number of tokens.
func (t Tokens) Len() int { return len(t.Toks) }

// Tokenize splits s for comparison: each run of letters, numbers and
// combining marks is one token, every other visible character is a token
// of its own, and whitespace only separates. So "Paris." and "Paris ." agree,
// and a re-wrapped line does not count as a divergence, while a changed
// digit or bracket does.
func Tokenize(s string) Tokens {
	t := Tokens{Text: s}
	start := -1
	flush := func(end int) {
		if start >= 0 {
			t.Toks = append(t.Toks, s[start:end])
			t.Offs = append(t.Offs, start)
			start = -1
		}
	}
	for i, r := range s {
		switch {
		case isWordRune(r):
			if start < 0 {
				start = i
			}
		case unicode.IsSpace(r):
			flush(i)
		default:
			flush(i)
			t.Toks = append(t.Toks, s[i:i+utf8.RuneLen(r)])
			t.Offs = append(t.Offs, i)
		}
	}
	flush(len(s))
	return t
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) || r == '_'
}

// FromModelTokens builds Tokens from the server's own tokens (logprobs),
// which concatenate to the answer.
func FromModelTokens(toks []string) Tokens {
	t := Tokens{Toks: toks, Offs: make([]int, len(toks))}
	off := 0
	text := make([]byte, 0, 64)
	for i, tok := range toks {
		t.Offs[i] = off
		off += len(tok)
		text = append(text, tok...)
	}
	t.Text = string(text)
	return t
}

// Comparison is the token-by-token comparison of the primary's answer with
// the reference's.
type Comparison struct {
	// Basis is "logprobs" when both servers returned their own tokens for
	// the answer, else "text" (Tokenize on both answers).
	Basis string
	// Exact: the token sequences are identical.
	Exact bool
	// Prefix is the length of the common prefix, in tokens.
	Prefix int
	// Tokens and RefTokens are the two answers' lengths in tokens.
	Tokens, RefTokens int
	// Divergence is the index of the first differing token (equal to
	// Prefix), or -1 when the answers are identical.
	Divergence int
	// Excerpts of both answers around the divergence, printable.
	PrimaryExcerpt, ReferenceExcerpt string
}

// Compare compares two answers. The server tokens are used when both sides
// have them; otherwise both texts are tokenized the same way. When inline
// reasoning was cut from either answer, the server tokens spell the
// reasoning too and no longer line up with the answer, so both texts are
// tokenized then as well: reasoning never enters the comparison.
func Compare(primary, reference Answer) Comparison {
	var a, b Tokens
	basis := "text"
	if primary.serverTokens() && reference.serverTokens() {
		a, b, basis = FromModelTokens(primary.ModelTokens), FromModelTokens(reference.ModelTokens), "logprobs"
	} else {
		a, b = Tokenize(primary.Text), Tokenize(reference.Text)
	}
	return CompareTokens(a, b, basis)
}

// serverTokens reports whether a's server tokens spell its answer, and
// nothing else.
func (a Answer) serverTokens() bool {
	return len(a.ModelTokens) > 0 && !a.InlineReasoning
}

// CompareTokens compares two token sequences.
func CompareTokens(a, b Tokens, basis string) Comparison {
	n := 0
	for n < a.Len() && n < b.Len() && a.Toks[n] == b.Toks[n] {
		n++
	}
	c := Comparison{Basis: basis, Prefix: n, Tokens: a.Len(), RefTokens: b.Len(), Divergence: -1}
	if n == a.Len() && n == b.Len() {
		c.Exact = true
		return c
	}
	c.Divergence = n
	c.PrimaryExcerpt = excerpt(a, n)
	c.ReferenceExcerpt = excerpt(b, n)
	return c
}

// excerptBefore and excerptAfter are how many tokens an excerpt shows
// around a divergence.
const (
	excerptBefore = 3
	excerptAfter  = 5
	excerptRunes  = 60
)

// excerpt quotes t around token i: a few tokens of shared context, then
// the diverging part. "∅" marks an answer that ended there.
func excerpt(t Tokens, i int) string {
	lo := max(i-excerptBefore, 0)
	hi := min(i+excerptAfter, t.Len())
	s := ""
	if lo > 0 {
		s = "…"
	}
	if lo < hi {
		end := t.Offs[hi-1] + len(t.Toks[hi-1])
		s += printable(t.Text[t.Offs[lo]:end], excerptRunes)
	}
	switch {
	case i >= t.Len():
		s += "∅"
	case hi < t.Len() && !strings.HasSuffix(s, "…"):
		s += "…"
	}
	return s
}
