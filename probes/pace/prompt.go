package pace

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// minPromptTokens is the shortest prompt the probe builds: the nonce and
// the request to count.
const minPromptTokens = 64

// countRequest asks for the long, easy answer: any model counts at
// temperature 0 without thinking, one token per number, until max_tokens
// stops it.
const countRequest = "Now count from 1 upward, one number per word, separated by single spaces, " +
	"with no other text, and do not stop until you are cut off."

// padding words are common English words of one token each in the
// tokenizers of the usual local models, so the prompt's word count is
// close to its token count.
var padding = strings.Fields("the river runs past a small house where an old man reads his book by the window " +
	"while rain falls on the green field and a dog sleeps near the warm fire")

// newNonce returns 16 random hex digits.
func newNonce() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b)
}

// buildPrompt returns a prompt of about tokens words: the nonce first, so
// no prefix or prompt cache can answer any of it, then padding, then the
// request to count.
func buildPrompt(nonce string, tokens int) string {
	var b strings.Builder
	b.WriteString("Request " + nonce + ". The next lines are filler text; ignore their meaning.\n")
	words := len(strings.Fields(b.String())) + len(strings.Fields(countRequest))
	for i := 0; words < tokens; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(padding[i%len(padding)])
		words++
	}
	b.WriteString("\n" + countRequest)
	return b.String()
}
