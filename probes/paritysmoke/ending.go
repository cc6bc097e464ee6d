package paritysmoke

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// How an answer ended. A model that lost its end-of-turn token after an
// upgrade, a chat template that changed, or a broken sampler still answers
// 200, often with the expected words in it: the answer runs on to
// max_tokens, spills the template's special tokens and the start of a
// made-up next turn, or repeats itself. Each is a named reason in the
// prompt's failure:
//
//	finish_reason  the answer did not end as the prompt says it must
//	               (finish_reason "stop" unless the prompt file says
//	               "length" or "any")
//	template leak  a chat template or special token in the text
//	               (<|im_end|>, <|im_start|>, <|eot_id|>, </s>, [INST],
//	               <end_of_turn>, ...) or a line that starts a new turn
//	               ("Human:", "User:")
//	loop           the same n-gram repeated many times in a row: a unit
//	               of one to four tokens eight times, or of five to
//	               maxLoopPeriod tokens four times (a sentence looping)
const (
	reasonFinish = "finish_reason"
	reasonLeak   = "template leak"
	reasonLoop   = "loop"
)

// The finish_reason a prompt may ask for.
const (
	finishStop   = "stop"
	finishLength = "length"
	finishAny    = "any"
)

// Loop thresholds.
const (
	shortLoop       = 4  // units up to this many tokens...
	shortRepeats    = 8  // ...must repeat this many times in a row
	longRepeats     = 4  // longer units this many
	maxLoopPeriod   = 64 // the longest unit looked for
	maxLoopUnitShow = 30 // characters of the unit quoted in the reason
)

// templateTokens are chat template and special tokens of the usual model
// families: ChatML and Llama 3 (<|...|>), SentencePiece's end of sequence,
// Llama 2's [INST], Gemma's turns.
var templateTokens = regexp.MustCompile(`<\|[A-Za-z0-9_]+\|>|</s>|\[/?INST\]|<(?:start|end)_of_turn>`)

// turnStart is a line that opens a new turn of the conversation.
var turnStart = regexp.MustCompile(`(?m)^[ \t]*(?:Human|User):`)

// ending reports how a primary answer's ending breaks p's rules, each
// problem named, or "".
func ending(p prompt, a answer) string {
	var why []string
	if want := p.Finish(); want != finishAny && a.FinishReason != want {
		switch a.FinishReason {
		case "":
			why = append(why, fmt.Sprintf("%s: none, want %q", reasonFinish, want))
		case finishLength:
			why = append(why, fmt.Sprintf("%s %q, want %q: the answer did not end within max_tokens (%d)", reasonFinish, a.FinishReason, want, p.MaxTokens))
		default:
			why = append(why, fmt.Sprintf("%s %q, want %q", reasonFinish, printable(a.FinishReason, 20), want))
		}
	}
	why = append(why, shape(a.Text)...)
	return strings.Join(why, "; ")
}

// usableShape reports why an answer cannot be kept as a golden answer or
// compared as a reference: unusable, or a leak or a loop (its finish_reason
// is the primary's business).
func usableShape(a answer) string {
	if reason := unusable(a); reason != "" {
		return reason
	}
	return strings.Join(shape(a.Text), "; ")
}

// shape reports a leak and a loop in text.
func shape(text string) []string {
	var why []string
	if l := leak(text); l != "" {
		why = append(why, l)
	}
	if l := loop(tokenize(text).Toks); l != "" {
		why = append(why, l)
	}
	return why
}

// leak reports the first template token or new turn in text, or "".
func leak(text string) string {
	if m := templateTokens.FindString(text); m != "" {
		return fmt.Sprintf("%s: %q in the answer", reasonLeak, printable(m, 30))
	}
	if m := turnStart.FindString(text); m != "" {
		return fmt.Sprintf("%s: a new turn %q in the answer", reasonLeak, printable(strings.TrimSpace(m), 30))
	}
	return ""
}

// loop finds the longest run in which a unit of tokens repeats (see the
// thresholds above); punctuation-only units (a markdown rule "-----")
// don't count.
func loop(toks []string) string {
	bestTimes, bestUnit := 0, []string(nil)
	for p := 1; p <= maxLoopPeriod && 2*p <= len(toks); p++ {
		need := shortRepeats
		if p > shortLoop {
			need = longRepeats
		}
		run := 0
		for i := p; i < len(toks); i++ {
			if toks[i] != toks[i-p] {
				run = 0
				continue
			}
			run++
			if times := (run + p) / p; times >= need && times > bestTimes {
				start := i - run - p + 1
				if unit := toks[start : start+p]; hasWord(unit) {
					bestTimes, bestUnit = times, unit
				}
			}
		}
	}
	if bestUnit == nil {
		return ""
	}
	return fmt.Sprintf("%s: %q repeated %d times", reasonLoop, printable(strings.Join(bestUnit, " "), maxLoopUnitShow), bestTimes)
}

func hasWord(toks []string) bool {
	for _, t := range toks {
		r := []rune(t)
		if len(r) > 0 && isWordRune(r[0]) {
			return true
		}
	}
	return false
}

// brokenEndings names the ending rules a prompt's failure reason cites
// ("finish_reason", "template leak", "loop"), for the parity_prompt event.
func brokenEndings(reason string) []string {
	var out []string
	for _, part := range strings.Split(reason, "; ") {
		for _, name := range []string{reasonFinish, reasonLeak, reasonLoop} {
			if strings.HasPrefix(part, name) && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}
