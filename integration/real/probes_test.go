//go:build real

package real

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/testkit/realollama"
	"github.com/sanctum/council-probes/pkg/testkit/tinyllama"
)

// Every probe once against a healthy real Ollama, and the guardian's
// remediation against a real process tree. Each test asserts what the
// probe must say of a healthy Ollama; the defects this tier found have
// their own tests in fixes_test.go.

// The guardian finds a healthy Ollama up: /v1/models answers, the
// backend is detected as ollama, nothing is restarted, and the model's
// size_vram 0 on this host without a GPU is no warning (--gpu auto).
func TestGuardianFindsAHealthyOllamaUp(t *testing.T) {
	h := newHost(t, hostConfig{})
	h.srv.Load(t, h.model.Name, "")
	tk := h.run("guardian")
	tk.wantCode(t, 0)
	if ev := tk.one(t, "backend_detected", ""); ev["backend"] != "ollama" {
		t.Errorf("backend_detected %v, want ollama", ev)
	}
	if ev := tk.one(t, "probe_ok", "unreachable"); ev["backend"] != "ollama" || ev["models"] != 1.0 {
		t.Errorf("probe_ok %v, want backend ollama and 1 model", ev)
	}
	for _, bad := range []string{"probe_fail", "restarting", "model_not_loaded", "model_on_cpu", "server_loading"} {
		if got := tk.find(bad, ""); len(got) != 0 {
			t.Errorf("a healthy Ollama gave %s:\n%s", bad, tk)
		}
	}
	if calls := h.ld.MutatingCalls(); len(calls) != 1 { // the host's own bootstrap
		t.Errorf("launchctl calls %q: the guardian changed launchd", calls)
	}
}

// An Ollama that crashed (its serve process killed) is restarted by the
// guardian with kickstart -k under the fake launchd, and the restart is
// verified: a new `ollama serve` answers. The server down, detection
// finds nothing: the tick's events say backend=unknown.
func TestGuardianRestartsACrashedOllama(t *testing.T) {
	h := newHost(t, hostConfig{})
	h.srv.Load(t, h.model.Name, "")
	old := h.srv.PID()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.srv.WaitDown(ctx); err != nil {
		t.Fatal(err)
	}
	// --busy-window 0: the load's access line is seconds old, and a
	// guardian that reads Ollama's access log would rightly defer.
	tk := h.run("guardian", "--restart-after", "1", "--busy-window", "0")
	tk.wantCode(t, 2)
	if ev := tk.one(t, "probe_fail", "unreachable"); ev["reason"] != "connect" || !strings.Contains(fmt.Sprint(ev["last_exit"]), "Killed") || ev["backend"] != "unknown" {
		t.Errorf("probe_fail %v, want a refused connection, launchd's word that it was killed, backend unknown", ev)
	}
	tk.one(t, "restarting", "unreachable")
	tk.one(t, "restart_verified", "restart_unverified")
	if calls := h.ld.MutatingCalls(); len(calls) != 2 || calls[1] != fmt.Sprintf("kickstart -k gui/%d/%s", os.Getuid(), h.srv.Label) {
		t.Errorf("launchctl calls %q, want the bootstrap then one kickstart -k", calls)
	}
	if pid := h.waitNewPID(old); pid == old {
		t.Fatal("the primary was not restarted")
	}
	if got := h.srv.Chat(t, h.model.Name, canaryPrompt, 4); got != h.model.Tiny.Answer(4) {
		t.Errorf("the restarted Ollama answered %q", got)
	}
	if a := h.alertsFor("unreachable"); len(a) != 2 {
		t.Errorf("unreachable alerts %q, want the failure and its recovery", a)
	}
}

// An Ollama whose chat the canary saw hang for two ticks, with its CPU
// idle, is wedged: the guardian restarts it with kickstart -k and
// verifies the restart with a chat answer from the new process.
func TestGuardianRestartsAWedgedOllama(t *testing.T) {
	h := newHost(t, hostConfig{})
	h.srv.Load(t, h.model.Name, "")
	old := h.srv.PID()
	h.canaryHang(2)
	// A short window, and an idle line a little above the default: /proc
	// counts CPU in 10 ms ticks and the machine is shared.
	tk := h.run("guardian", "--cpu-window", "2s", "--idle-cpu", "0.05")
	if ev := tk.one(t, "wedged", "wedged"); ev["reason"] != "idle" || ev["pid"] != float64(old) {
		t.Errorf("wedged %v, want reason idle and pid %d (ollama serve)", ev, old)
	}
	tk.one(t, "restarting", "wedged")
	tk.one(t, "restart_verified", "restart_unverified")
	h.waitNewPID(old)
	if a := h.alertsFor("wedged"); len(a) != 2 || !strings.Contains(a[0], "idle") {
		t.Errorf("wedged alerts %q, want the error saying idle and its recovery", a)
	}
}

// The canary against the counting model: the request, the JSON answer
// and the stream all work (no hang, no HTTP or stream failure), and the
// answer is the model's counting, cut by max_tokens: junk for "respond
// with only the number", so wrong_answer (its rules: fixes_test.go).
func TestCanaryAsksACountingOllama(t *testing.T) {
	h := newHost(t, hostConfig{plain: true})
	for _, mode := range [][]string{nil, {"--stream"}} {
		tk := h.run("canary", mode...)
		ev := tk.one(t, "canary_fail", "wrong_answer")
		if ev["finish_reason"] != "length" || ev["completion_tokens"] != 256.0 ||
			!strings.HasPrefix(fmt.Sprint(ev["answer"]), h.model.Tiny.Answer(12)) {
			t.Errorf("canary %v event %v: want the model's counting, 256 tokens, cut by length", mode, ev)
		}
	}
}

// The canary against a model that answers "4" and stops: OK, over JSON
// and over the stream.
func TestCanaryPassesAnOllamaThatAnswers4(t *testing.T) {
	h := newHost(t, hostConfig{plain: true, modelName: "four",
		model: realollama.Model{Tiny: tinyllama.Config{Words: []string{"4"}, Stop: true}}})
	for _, mode := range [][]string{nil, {"--stream"}} {
		tk := h.run("canary", mode...)
		tk.wantCode(t, 0)
		if ev := tk.one(t, "canary_ok", "wrong_answer"); ev["answer"] != " 4" || ev["finish_reason"] != "stop" || ev["backend"] != "ollama" {
			t.Errorf("canary %v: %v", mode, ev)
		}
	}
}

// Drift checks a supervised Ollama host: files, the primary's job, the
// fallback's discipline, and the server's identity (version 0.17.4 and
// the model's digest); an excluded version or digest is an error.
func TestDriftRecordsOllamasIdentity(t *testing.T) {
	h := newHost(t, hostConfig{})
	h.srv.Load(t, h.model.Name, "")
	digest := h.srv.PS(t)[0].Digest
	tk := h.run("drift", "--expect-server", "0.17.*", "--expect-model-digest", digest)
	tk.wantCode(t, 0)
	tk.one(t, "model_expected", "unexpected_model")
	if ev := tk.one(t, "server_identity_recorded", ""); ev["version"] != realollama.Version || ev["backend"] != "ollama" {
		t.Errorf("server_identity_recorded %v", ev)
	}
	tk.one(t, "agent_loaded", "agent_not_loaded:"+h.srv.Label)

	tk = h.run("drift", "--expect-server", "0.16.*")
	tk.wantCode(t, 2)
	tk.one(t, "server_unexpected", "unexpected_server")
	tk = h.run("drift", "--expect-model-digest", strings.Repeat("0", 64))
	tk.wantCode(t, 2)
	tk.one(t, "model_unexpected", "unexpected_model")
}

// Integrity checks the Ollama the fake launchd runs: the binary is
// there, signed and (with its metallib stand-in) complete, and the
// running `ollama serve` is the binary on disk. Replaced on disk and not
// restarted, it is stale_process; restarted, current again.
func TestIntegrityChecksTheRunningOllama(t *testing.T) {
	h := newHost(t, hostConfig{})
	tk := h.run("integrity")
	tk.wantCode(t, 0)
	for _, check := range []string{"binary_missing", "signature_invalid", "metallib_missing"} {
		tk.one(t, "check_ok", check)
	}
	old := h.srv.PID()
	if ev := tk.one(t, "check_ok", "stale_process"); ev["pid"] != float64(old) || ev["pid_source"] != "service" {
		t.Errorf("stale_process %v, want pid %d from the service manager (launchd here)", ev, old)
	}

	h.install() // a rebuild: a new inode at the binary's path
	h.sign()
	tk = h.run("integrity")
	tk.wantCode(t, 2)
	tk.one(t, "check_failed", "stale_process")

	if out, err := h.launchctl("kickstart", "-k", fmt.Sprintf("gui/%d/%s", os.Getuid(), h.srv.Label)); err != nil {
		t.Fatalf("kickstart: %v\n%s", err, out)
	}
	h.waitNewPID(old)
	tk = h.run("integrity")
	tk.wantCode(t, 0)
	tk.one(t, "check_ok", "stale_process")
}

// Parity-smoke passes golden prompts the counting model answers, and
// finds a reference serving the same model identical, token by token.
func TestParitySmokeComparesOllamaWithItself(t *testing.T) {
	h := newHost(t, hostConfig{plain: true})
	tk := h.run("parity-smoke", "--reference-url", h.srv.URL)
	tk.wantCode(t, 0)
	if ev := tk.one(t, "parity_ok", "parity"); ev["passed"] != 2.0 || ev["exact"] != 2.0 {
		t.Errorf("parity_ok %v, want 2 passed, 2 identical to the reference", ev)
	}
	for _, ev := range tk.find("parity_prompt", "parity") {
		if ev["exact"] != true || ev["divergence"] != -1.0 || ev["basis"] != "logprobs" {
			t.Errorf("parity_prompt %v: want an exact match, compared on Ollama's logprobs", ev)
		}
	}
}

// An answer that never ends fails parity on its ending: the counting
// model holds the expected words, but runs to max_tokens where the prompt
// asks for a finished answer (finish_reason "stop", the default), as a
// model that lost its end-of-turn token after an upgrade does.
func TestParitySmokeJudgesHowOllamaEnds(t *testing.T) {
	h := newHost(t, hostConfig{plain: true})
	p := filepath.Join(h.home.Dir, "must-stop.json")
	const prompts = `{"version": 1, "prompts": [
  {"id": "count", "prompt": "Count from 1 to 5.", "max_tokens": 8, "expect": ["1 2 3 4 5"]}
]}`
	if err := os.WriteFile(p, []byte(prompts), 0o644); err != nil {
		t.Fatal(err)
	}
	tk := h.run("parity-smoke", "--prompts", p, "--max-failures", "0")
	tk.wantCode(t, 2)
	ev := tk.one(t, "parity_prompt", "parity")
	if r := fmt.Sprint(ev["reason"]); ev["pass"] != false || !strings.HasPrefix(r, `finish_reason "length", want "stop"`) || ev["finish_reason"] != "length" {
		t.Errorf("parity_prompt %v: want failed on its ending, finish_reason length", ev)
	}
	tk.one(t, "parity_fail", "parity")
}

// Pace takes its first sample of a real Ollama: learning, with a time to
// first token, a decode speed, and the whole answer (the model counts to
// --decode-tokens).
func TestPaceSamplesOllama(t *testing.T) {
	h := newHost(t, hostConfig{plain: true})
	tk := h.run("pace")
	tk.wantCode(t, 0)
	ev := tk.one(t, "pace_sample", "")
	if ev["result"] != "learning" || ev["completion_tokens"] != 128.0 || ev["finish_reason"] != "length" {
		t.Errorf("pace_sample %v: want a learning sample of 128 tokens", ev)
	}
	for _, k := range []string{"ttft_ms", "decode_tps", "prefill_tps"} {
		if v, _ := ev[k].(float64); v <= 0 {
			t.Errorf("pace_sample %s = %v, want a measure", k, ev[k])
		}
	}
	// Pace sizes its prompt in words; the tiny model's vocabulary gives
	// about a token per word, as a real model's does.
	if p, _ := ev["prompt_tokens"].(float64); p < 400 || p > 900 {
		t.Errorf("prompt_tokens %v, want about 512", ev["prompt_tokens"])
	}
}

// TestEveryProbeRunsHere: each probe of the registry (pkg/core/suite) is
// run by some test of this tier, so a probe added to the suite is not
// left out of the real server's tests.
func TestEveryProbeRunsHere(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	call := regexp.MustCompile(`\.run\("([a-z-]+)"`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			ran[m[1]] = true
		}
	}
	for _, name := range suite.Names(suite.Probes) {
		if !ran[name] {
			t.Errorf("no test of the real tier runs %s", name)
		}
	}
}
