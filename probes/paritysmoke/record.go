package paritysmoke

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/text"
)

// maxKeys is how many key substrings a recorded prompt gets when its old
// expectations no longer hold.
const maxKeys = 3

// errRecordExists: --record would overwrite a file and --force is not set.
var errRecordExists = errors.New("record file exists (pass --force to replace it)")

// goldenSet builds the prompt file an operator reviews after --record: each
// prompt keeps the expectations that still hold against the observed answer
// (they were vetted before); a prompt whose old expectations all fail gets
// up to three key substrings picked from the answer instead. Observed keeps
// the answer itself for the review. Results must all have usable answers.
func goldenSet(results []result, note string) *promptSet {
	set := &promptSet{Version: schemaVersion, Note: note}
	for _, r := range results {
		p := r.Prompt
		answer := r.Primary.Text
		var keep []string
		for _, s := range p.Expect {
			if strings.Contains(answer, s) {
				keep = append(keep, s)
			}
		}
		re := p.ExpectRegex
		if p.Regexp() == nil || !p.Regexp().MatchString(answer) {
			re = ""
		}
		if len(keep) == 0 && re == "" {
			keep = keySubstrings(answer, maxKeys)
		}
		set.Prompts = append(set.Prompts, prompt{
			ID: p.ID, Prompt: p.Prompt, MaxTokens: p.MaxTokens,
			Expect: keep, ExpectRegex: re, FinishReason: recordedFinish(p, r.Primary.FinishReason),
			Observed: text.Cut(strings.TrimSpace(answer), maxObservedLen),
		})
	}
	return set
}

// recordedFinish is the finish_reason a recorded prompt asks for: the one
// the known-good backend ended with when it is not "stop" (a prompt cut by
// max_tokens on purpose keeps "length", for the operator to review; none
// at all is "any"), else the old file's.
func recordedFinish(p prompt, observed string) string {
	switch observed {
	case finishLength:
		return finishLength
	case "":
		// A backend that says nothing cannot be held to a reason.
		return finishAny
	case finishStop:
		if p.FinishReason == finishLength {
			return ""
		}
	}
	return p.FinishReason
}

// stopWords are words too common to say anything about an answer.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be but by for from has have in into is it its of on or
		that the their then there these this to was were which will with you your can not no yes so if than
		also such should would could may might only one each any all more most some other very`) {
		stopWords[w] = true
	}
}

// keySubstrings picks up to n distinctive words of text, in the order they
// appear: numbers first, then identifiers and capitalised words, then the
// longest other words; stop words and single letters are skipped. An
// answer of only short tokens yields its first token.
func keySubstrings(text string, n int) []string {
	type cand struct {
		word  string
		score int
		pos   int
	}
	toks := tokenize(text)
	seen := map[string]bool{}
	var cands []cand
	for i, w := range toks.Toks {
		r := []rune(w)
		if seen[w] || !isWordRune(r[0]) || stopWords[strings.ToLower(w)] {
			continue
		}
		seen[w] = true
		score := len(r)
		switch {
		case hasDigit(w):
			score += 100
		case strings.Contains(w, "_") || unicode.IsUpper(r[0]) && len(r) > 1:
			score += 50
		case len(r) < 3:
			continue
		}
		cands = append(cands, cand{w, score, i})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	if len(cands) > n {
		cands = cands[:n]
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].pos < cands[j].pos })
	out := make([]string, 0, len(cands))
	for _, c := range cands {
		out = append(out, c.word)
	}
	if len(out) == 0 && toks.Len() > 0 && strings.TrimSpace(toks.Toks[0]) != "" {
		out = append(out, toks.Toks[0])
	}
	return out
}

func hasDigit(s string) bool {
	return strings.IndexFunc(s, unicode.IsDigit) >= 0
}

// writeGolden validates set by parsing its own output and writes it to path
// atomically. An existing file is replaced only with force.
func writeGolden(path string, set *promptSet, force bool) ([]byte, error) {
	data, err := marshalPrompts(set)
	if err != nil {
		return nil, err
	}
	if _, err := parsePrompts(path, data); err != nil {
		return nil, fmt.Errorf("recorded prompt file would not validate: %w", err)
	}
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return nil, fmt.Errorf("%s: %w", path, errRecordExists)
		}
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return nil, fmt.Errorf("write record file: %w", err)
	}
	return data, nil
}

// recordNote is the note of a recorded file: when and from where.
func recordNote(now time.Time, backend, model string) string {
	return fmt.Sprintf("recorded %s by council-parity-smoke --record from %s (model %s); review every expect list before using this file",
		now.UTC().Format(time.RFC3339), backend, orNone(model))
}

func orNone(s string) string {
	if s == "" {
		return "(server default)"
	}
	return s
}
