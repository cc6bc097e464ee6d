package pace

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/probe"
)

// The pace prompt asks the model to count; the answer is checked, so a
// model that answers junk or loops at full speed (a broken quantisation, a
// corrupted cache) is caught within one tick, not only a slow one. The
// numbers in the answer must mostly form the counting sequence: at least
// minInSequence of the integers found continue it (the first is 1, each
// next one more than the one before), and at least half the expected count
// is there.
const minInSequence = 0.8

// maxNumbers bounds the integers read from one answer.
const maxNumbers = 4096

// excerptMax bounds the excerpt of a degenerate answer in the alert.
const excerptMax = 80

var integerRE = regexp.MustCompile(`\d+`)

// checkCounting says why answer is not a count ("" when it is). tokens is
// the answer's token count, from which the expected count of numbers is
// derived; reasoning says the tokens include reasoning, whose share is
// unknown, so only the sequence rule applies.
func checkCounting(answer string, tokens int, reasoning bool) string {
	found := integerRE.FindAllString(answer, maxNumbers)
	if len(found) == 0 {
		if answer == "" && reasoning {
			return "" // all reasoning, no answer yet: nothing to check
		}
		return fmt.Sprintf("no number in the answer to a request to count: %q", text.Excerpt(answer, excerptMax))
	}
	inSequence, prev := 0, 0
	for i, f := range found {
		n, err := strconv.Atoi(f)
		if err == nil && ((i == 0 && n == 1) || (i > 0 && n == prev+1)) {
			inSequence++
		}
		prev = n
	}
	if share := float64(inSequence) / float64(len(found)); share < minInSequence {
		return fmt.Sprintf("only %d of the %d numbers in the answer continue the count from 1 (want %.0f%%): %q",
			inSequence, len(found), minInSequence*100, text.Excerpt(answer, excerptMax))
	}
	if want := expectedNumbers(tokens); !reasoning && 2*len(found) < want {
		return fmt.Sprintf("%d numbers in an answer of %d tokens (want at least %d): %q",
			len(found), tokens, (want+1)/2, text.Excerpt(answer, excerptMax))
	}
	return ""
}

// expectedNumbers is how many numbers a count of tokens tokens holds at
// the least: with a tokenizer that spends a token on each digit and one on
// the separator (Qwen's does), the number k costs digits(k)+1 tokens. A
// tokenizer with a token per number (Llama's) gets far more in; the rule
// asks for half of this floor.
func expectedNumbers(tokens int) int {
	tokens = min(tokens, 8*maxNumbers) // a count never needs more; bounds the loop
	n, used := 0, 0
	for {
		cost := len(strconv.Itoa(n+1)) + 1
		if used+cost > tokens {
			return n
		}
		used += cost
		n++
	}
}

// checkAnswer feeds the degenerate channel: the answer to the request to
// count must be a count. untrustedCount says the server's token count was
// implausible; the token events stand in for it.
func checkAnswer(t *probe.Tick, s settings, m measured, untrustedCount bool) {
	if !s.CheckAnswer {
		return
	}
	tokens := m.CompletionTokens
	if untrustedCount {
		tokens = m.TokenEvents
	}
	why := checkCounting(m.Answer, tokens, m.ReasoningBytes > 0)
	if why == "" {
		t.PassQuiet(CheckDegenerate)
		return
	}
	t.Fail(CheckDegenerate, "pace_degenerate", alert.Warn, m.Asked+": the answer to a request to count is not a count: "+why,
		"completion_tokens", m.CompletionTokens, "answer_bytes", len(m.Answer))
}
