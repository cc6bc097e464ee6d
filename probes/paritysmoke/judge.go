package paritysmoke

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// garbageShare: an answer is garbage when at least a quarter of its
// visible characters are not printable text (control characters,
// replacement characters, tokenizer leftovers such as <unk>): what a model
// emits from corrupt weights or a broken sampler. A loop is judged on its
// own (ending.go).
const garbageShare = 0.25

// specialTokens are tokenizer leftovers that must never reach an answer.
// Chat template tokens (<|im_end|>, </s>, ...) are not garbage but a leak,
// a reason of its own (ending.go), and are not counted here.
var specialTokens = regexp.MustCompile(`<unk>|<pad>|<s>|<0x[0-9A-Fa-f]{2}>`)

// garbage reports why text is garbage, or "" when it is not.
func garbage(text string) string {
	var total, bad int
	rest := templateTokens.ReplaceAllString(text, " ")
	rest = specialTokens.ReplaceAllStringFunc(rest, func(m string) string {
		n := utf8.RuneCountInString(m)
		total += n
		bad += n
		return " "
	})
	for _, r := range rest {
		if r == ' ' || r == '\n' || r == '\t' || r == '\r' {
			continue
		}
		total++
		if r == utf8.RuneError || !unicode.IsGraphic(r) || unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs) {
			bad++
		}
	}
	if total > 0 && float64(bad) >= garbageShare*float64(total) {
		return fmt.Sprintf("garbage: %d of %d characters are not printable text", bad, total)
	}
	return ""
}

// expectations reports what of p's expectations text misses, or "".
func expectations(p prompt, text string) string {
	var missing []string
	for _, s := range p.Expect {
		if !strings.Contains(text, s) {
			missing = append(missing, `"`+printable(s, 30)+`"`)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 3 {
			missing = append(missing[:3], fmt.Sprintf("and %d more", len(missing)-3))
		}
		return "missing " + strings.Join(missing, ", ")
	}
	if re := p.Regexp(); re != nil && !re.MatchString(text) {
		return fmt.Sprintf("no match for /%s/", printable(p.ExpectRegex, 40))
	}
	return ""
}

// problem reports why a primary answer fails on its own (without a
// reference), or "": a request error, an empty answer, garbage, how it
// ended (ending: finish_reason, template leak, loop), or a missing
// expectation, checked in that order.
func problem(p prompt, a answer) string {
	if reason := unusable(a); reason != "" {
		return reason
	}
	if reason := ending(p, a); reason != "" {
		return reason
	}
	return expectations(p, a.Text)
}

// unusable reports why an answer cannot be judged or compared at all: a
// request error, an empty answer (reasoning alone is empty), or garbage.
// (A leak or a loop is checked beside it where an answer is kept: shape.)
func unusable(a answer) string {
	switch {
	case a.Err != nil:
		return a.Err.Error()
	case strings.TrimSpace(a.Text) == "":
		why := "empty answer"
		if a.ReasoningBytes > 0 {
			why += fmt.Sprintf(": only reasoning (%d bytes)", a.ReasoningBytes)
		}
		if a.FinishReason != "" {
			why += fmt.Sprintf(" (finish_reason %s)", a.FinishReason)
		}
		return why
	}
	return garbage(a.Text)
}

// prefixProblem reports a comparison below the common-prefix threshold:
// answers that are not identical must agree for at least minPrefix tokens.
func prefixProblem(c comparison, minPrefix int) string {
	if c.Exact || c.Prefix >= minPrefix {
		return ""
	}
	return fmt.Sprintf("diverged from the reference at token %d (< --min-prefix %d): \"%s\" vs \"%s\"",
		c.Divergence, minPrefix, c.PrimaryExcerpt, c.ReferenceExcerpt)
}
