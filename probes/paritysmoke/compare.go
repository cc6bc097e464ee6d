package paritysmoke

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokens is an answer split into tokens, with each token's byte offset in
// Text so that an excerpt can quote the original answer.
type tokens struct {
	Text string
	Toks []string
	Offs []int
}

// Len is the number of tokens.
func (t tokens) Len() int { return len(t.Toks) }

// tokenize splits s for comparison: each run of letters, numbers and
// combining marks is one token, every other visible character is a token
// of its own, and whitespace only separates. So "Paris." and "Paris ." agree,
// and a re-wrapped line does not count as a divergence, while a changed
// digit or bracket does.
func tokenize(s string) tokens {
	t := tokens{Text: s}
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

// fromModelTokens builds Tokens from the server's own tokens (logprobs),
// which concatenate to the answer.
func fromModelTokens(toks []string) tokens {
	t := tokens{Toks: toks, Offs: make([]int, len(toks))}
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

// comparison is the token-by-token comparison of the primary's answer with
// the reference's.
type comparison struct {
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

// compare compares two answers. The server tokens are used when both sides
// have them; otherwise both texts are tokenized the same way. When inline
// reasoning was cut from either answer, the server tokens spell the
// reasoning too and no longer line up with the answer, so both texts are
// tokenized then as well: reasoning never enters the comparison.
func compare(primary, reference answer) comparison {
	var a, b tokens
	basis := "text"
	if primary.serverTokens() && reference.serverTokens() {
		a, b, basis = fromModelTokens(primary.ModelTokens), fromModelTokens(reference.ModelTokens), "logprobs"
	} else {
		a, b = tokenize(primary.Text), tokenize(reference.Text)
	}
	return compareTokens(a, b, basis)
}

// serverTokens reports whether a's server tokens spell its answer, and
// nothing else.
func (a answer) serverTokens() bool {
	return len(a.ModelTokens) > 0 && !a.InlineReasoning
}

// compareTokens compares two token sequences.
func compareTokens(a, b tokens, basis string) comparison {
	n := 0
	for n < a.Len() && n < b.Len() && a.Toks[n] == b.Toks[n] {
		n++
	}
	c := comparison{Basis: basis, Prefix: n, Tokens: a.Len(), RefTokens: b.Len(), Divergence: -1}
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
func excerpt(t tokens, i int) string {
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
