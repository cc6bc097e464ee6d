package ctxwindow

import (
	"crypto/rand"
	"math"
	"strings"
)

// codeAlphabet are the characters of a needle code: capitals and digits
// without the look-alikes (0/O, 1/I/L), so a model that repeats a code
// cannot be misread.
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// codeLen is a code's length: 31^8 codes, never guessed.
const codeLen = 8

// newCode returns a random code.
func newCode() string {
	b := make([]byte, codeLen)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

// The needle's fixed parts. "secret code is" is what the simulator's
// needle rule reads (councilsim.NeedlePrompt).
const (
	needleHead = "The first secret code is %s. Remember it. The text that follows is filler; ignore its meaning.\n"
	needleTail = "\nThe second secret code is %s. Now answer with the two secret codes, the first then the second, " +
		"separated by one space, and nothing else."
)

// filler words are common English words of one token each in the
// tokenizers of the usual local models, so the prompt's word count is
// close to its token count and the window is filled as asked.
var filler = strings.Fields("the river runs past a small house where an old man reads his book by the window " +
	"while rain falls on the green field and a dog sleeps near the warm fire")

// needle is one needle prompt and what it hides.
type needle struct {
	Prompt      string
	First, Last string
	// Words is the conservative count of what is sent: the prompt's
	// words. Every tokenizer of a local model spends at least a token on
	// each word, and the chat template adds more, so a server that counts
	// fewer prompt tokens than this did not read the whole prompt.
	Words int
}

// needleWords is how many words a needle for window tokens has: fill of
// the window, at most limit (buildNeedle never goes below its two codes
// and the question).
func needleWords(window int, fill float64, limit int) int {
	return min(limit, int(math.Floor(float64(window)*fill)))
}

// buildNeedle returns a needle of about words words with first at its start
// and last at its end.
func buildNeedle(words int, first, last string) needle {
	head := strings.Replace(needleHead, "%s", first, 1)
	tail := strings.Replace(needleTail, "%s", last, 1)
	var b strings.Builder
	b.WriteString(head)
	n := len(strings.Fields(head)) + len(strings.Fields(tail))
	for i := 0; n < words; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(filler[i%len(filler)])
		n++
	}
	b.WriteString(tail)
	p := b.String()
	return needle{Prompt: p, First: first, Last: last, Words: len(strings.Fields(p))}
}

// found reports which of the needle's codes answer repeats.
func (n needle) found(answer string) (first, last bool) {
	return strings.Contains(answer, n.First), strings.Contains(answer, n.Last)
}
