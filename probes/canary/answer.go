package canary

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// defaultPrompt is the question the canary asks.
const defaultPrompt = "What is 2+2? Respond with only the number."

// defaultExpect matches the number 4 standing alone: not part of another
// number ("14", "40", "4.5", "0.4", "4,5") nor of a word ("4th"), optionally
// written "4.0", and followed by anything else. So "4", "4.", " 4\n",
// "**4**", "2+2=4" and "The answer is 4." pass; "14", "40", "four" and "5"
// do not. It is deliberately a "contains" test, not an exact match: a
// chatty but correct model is healthy; one that says "14" is not.
const defaultExpect = `(?:^|[^\pL\pN.,])4(?:\.0+)?(?:$|[^\pL\pN.,]|[.,](?:$|[^\pN]))`

// answerLogMax bounds the answer as logged; answer_sha256 covers all of it.
const answerLogMax = 200

// maxAnswerBytes bounds the content the canary assembles and judges; with a
// max_tokens of a few hundred a real answer is far shorter.
const maxAnswerBytes = 64 << 10

// sha256Hex is the hex SHA-256 of s.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// empty reports whether an answer has nothing in it but white space.
func empty(s string) bool { return strings.TrimSpace(s) == "" }
