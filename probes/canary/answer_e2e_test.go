package canary

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

// TestJunkAnswerIsWrong: a model degenerated into junk answers "2+2" with a
// ramble that runs to max_tokens and happens to hold a standalone 4, as a
// random-weight model on a real Ollama did. The canary passed it before;
// now it is wrong_answer, the detail and answer_rule naming the rule.
func TestJunkAnswerIsWrong(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(mode(stream), func(t *testing.T) {
			f := newFixtureSim(t, false, func(c *councilsim.Config) {
				c.Answers = map[string]string{"2+2": "17 4 9 31 cats 4 and the 88 more words keep on coming"}
			}, "--max-tokens", "6")
			args := []string{}
			if stream {
				args = append(args, "--stream")
			}
			res, evs := f.run(t, args...)
			ev := one(t, evs, "canary_fail", CheckWrongAnswer)
			if res.Code == 0 || ev["answer_rule"] != ruleCut || ev["finish_reason"] != "length" {
				t.Fatalf("exit %d, event %v", res.Code, ev)
			}
			if d, _ := ev["detail"].(string); !strings.Contains(d, "cut by the token limit (finish_reason=length, max_tokens=6)") {
				t.Errorf("detail %q", d)
			}
			// Room to finish: the ramble is whole, and too long.
			_, evs = f.run(t, append(args, "--max-tokens", "256")...)
			if ev := one(t, evs, "canary_fail", CheckWrongAnswer); ev["answer_rule"] != ruleLong {
				t.Errorf("event %v: want rule long", ev)
			}
			f.finalChecks(t)
		})
	}
}
