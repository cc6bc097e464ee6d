package integration

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// How an answer ends: a model that runs on to max_tokens, or spills its
// chat template, still answers 200 with the expected words in it. Only
// parity-smoke judges endings (the canary's answer is one number); each
// rule is a named reason in the prompt's failure.

const (
	fEndless      = "answers never end (to max_tokens)"
	fTemplateLeak = "template tokens leak into answers"
)

func init() {
	register("parity-smoke", []string{fEndless, fTemplateLeak}, parityEndingCells)
}

func parityEndingCells() []cell {
	named := func(reason string) func(t *testing.T, w *world) {
		return func(t *testing.T, w *world) {
			for _, e := range probetest.Find(w.events(), "parity_prompt", "parity") {
				if r, _ := e["reason"].(string); e["pass"] != false || !strings.Contains(r, reason) {
					t.Errorf("prompt %v: want failed with the named reason %q", e["id"], reason)
				}
			}
		}
	}
	fail := func(f string, sim councilsim.Fault, reason, note string) cell {
		w := failing(2, "parity_fail", "parity")
		w.then = named(reason)
		return cell{fault: f, sim: fault(sim), want: w, note: note}
	}
	return []cell{
		fail(fEndless, councilsim.FaultEndless, "finish_reason",
			`finish_reason "length", want "stop": each answer holds the expected words and fails on its ending`),
		fail(fTemplateLeak, councilsim.FaultTemplateLeak, "template leak",
			`"<|im_end|>" and a made-up "user" turn in each answer`),
	}
}
