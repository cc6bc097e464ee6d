package canary

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
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

// The answer to "Respond with only the number" must also be short, whole
// and first say 4 (with the default --expect; another --expect is judged
// by its regexp alone). A model that degenerated into junk rambles: a
// random-weight model on a real Ollama answered 256 tokens of numbers and
// words, cut by max_tokens, that held a standalone 4 among the others, and
// the regexp alone passed it. Each rule names itself in wrong_answer's
// detail and in the event's answer_rule:
//
//	cut           finish_reason is "length": the model did not stop on its own
//	long          more than --max-answer-words words
//	expect        no 4 standing alone (the --expect regexp)
//	first_number  the first number is not 4 (echoes of the question's
//	              "2+2" aside: "2+2=4" and "2 plus 2 is 4" pass)
const (
	ruleCut         = "cut"
	ruleLong        = "long"
	ruleExpect      = "expect"
	ruleFirstNumber = "first_number"
)

// defaultMaxAnswerWords is "a few words": "4", "The answer is 4.", "2 + 2
// = 4" and "The sum of 2 and 2 is 4." pass.
const defaultMaxAnswerWords = 8

// numberRE is a number as the default --expect sees one: digits, with
// decimal or group separators between digits.
var numberRE = regexp.MustCompile(`\pN+(?:[.,]\pN+)*`)

// questionEchoRE is the question's own "2+2", which an answer may repeat
// before its number ("2+2=4", "2 + 2 = 4", "2 plus 2 is 4", "the sum of 2
// and 2 is 4").
var questionEchoRE = regexp.MustCompile(`(?i)2\s*(?:\+|plus|and)\s*2`)

// fourRE is the number four as written in an answer: 4, 4.0, 4.00.
var fourRE = regexp.MustCompile(`^4(?:\.0+)?$`)

// firstNumber is the first number of answer, echoes of the question
// aside; "" when there is none.
func firstNumber(answer string) string {
	return numberRE.FindString(questionEchoRE.ReplaceAllString(answer, " "))
}

// words counts the answer's words.
func words(answer string) int { return len(strings.Fields(answer)) }

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
