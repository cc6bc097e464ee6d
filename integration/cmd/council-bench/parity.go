package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// parityCPUTarget: a nightly parity-smoke run of the default ten prompts
// against a model that answers at once must cost well under a second of
// CPU outside the model.
const parityCPUTarget = time.Second

// The default prompt set (embedded in the binary) and the simulator's
// answers to it, by prompt id, as scripts/demo.sh uses them; relative to
// the workspace root (-repo).
const (
	parityPromptsFile = "probes/paritysmoke/prompts/default.json"
	parityAnswersFile = "probes/paritysmoke/testdata/sim-answers.json"
)

// parityAnswers maps each default prompt's full text to the simulator's
// answer, so a tick without --prompts (the ten built-in prompts) passes.
func parityAnswers(repo string) (map[string]string, error) {
	var set struct {
		Prompts []struct{ ID, Prompt string }
	}
	var byID map[string]string
	for _, f := range []struct {
		path string
		v    any
	}{{parityPromptsFile, &set}, {parityAnswersFile, &byID}} {
		data, err := os.ReadFile(filepath.Join(repo, f.path))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, f.v); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
	}
	if len(set.Prompts) == 0 {
		return nil, fmt.Errorf("%s lists no prompts", parityPromptsFile)
	}
	out := make(map[string]string, len(set.Prompts))
	for _, p := range set.Prompts {
		a, ok := byID[p.ID]
		if !ok {
			return nil, fmt.Errorf("%s has no answer for prompt %q", parityAnswersFile, p.ID)
		}
		out[p.Prompt] = a
	}
	return out, nil
}

// parityRun is parity-smoke's default ten prompts against the simulator
// answering them: measured like a pair, without a shell side (nothing
// shell-sized does what it does); its bar is parityCPUTarget.
func parityRun(e *env) pair {
	p := pair{Name: fmt.Sprintf("parity-smoke tick, %d prompts", e.ParityPrompts), Bench: "Tick/parity-smoke-default",
		NoBase: "no shell equivalent; absolute target", CPUTarget: parityCPUTarget}
	if e.ParityErr != "" {
		p.Name, p.Missing = "parity-smoke tick, default prompts", "the default prompts cannot be answered: "+e.ParityErr
		return p
	}
	bin := e.BinPath("council-parity-smoke")
	if bin == "" {
		p.Missing = "not built (no council-parity-smoke in the bin directory)"
		return p
	}
	// --max-failures 0: exit 0 (which comparePair requires) then means all
	// ten were asked and answered right, not nine of them.
	p.Probe = command{Argv: append([]string{bin}, append(common(e), "--url", e.SimURL, "--table", "never", "--max-failures", "0")...), Env: e.Env()}
	return p
}
