package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// The backend topic: what the server says about itself (pkg/server/backend,
// councilsim personalities) changes the guardian's verdict.
const (
	fBackendLoading    = "server loading (llama-server)"
	fBackendEngineDead = "engine dead, /v1/models up (vLLM)"
	fBackendUnloaded   = "model not loaded (Ollama)"
	fBackendOnCPU      = "model on CPU (Ollama)"
	fBackendBusy       = "chat hung, requests advancing (vLLM)"
)

func init() {
	register("guardian", []string{fBackendLoading, fBackendEngineDead, fBackendUnloaded, fBackendOnCPU, fBackendBusy}, guardianBackendCells)
}

func personality(p councilsim.Personality, f councilsim.BackendFault) func(*councilsim.Config) {
	return func(c *councilsim.Config) {
		c.Personality = councilsim.PersonalityConfig{Personality: p, BackendFault: f}
	}
}

// serverNotRestarted asserts the guardian changed nothing in launchd.
func serverNotRestarted(t *testing.T, w *world) {
	if hasCall(w.ld.Calls(), "kickstart") || len(probetest.Find(w.events(), "restarting", "unreachable")) > 0 {
		t.Errorf("restarted a server that said what it was doing: %q\n%s", w.ld.Calls(), dumpEvents(w.events()))
	}
}

func guardianBackendCells() []cell {
	model := []string{"--model", councilsim.DefaultModel}
	return []cell{
		{fault: fBackendLoading, sim: personality(councilsim.PersonalityLlamaServer, councilsim.BackendFaultLoading), ticks: 4,
			want: want{code: 0, event: "server_loading", check: "unreachable", alert: noAlert, then: serverNotRestarted},
			note: "llama-server's /health says \"Loading model\": not a failure, not restarted, for up to --max-loading (10 min)"},
		{fault: fBackendEngineDead, sim: personality(councilsim.PersonalityVLLM, councilsim.BackendFaultEngineDead), ticks: 3,
			want: want{code: 2, event: "probe_fail", check: "unreachable", alert: delivered, then: restartAttempted},
			note: "vLLM /health 503 is a failure although /v1/models answers; three in a row restart it"},
		{fault: fBackendUnloaded, sim: personality(councilsim.PersonalityOllama, councilsim.BackendFaultUnloaded), args: model,
			want: want{code: 1, event: "model_not_loaded", check: "model_not_loaded", alert: delivered, then: serverNotRestarted},
			note: "/api/ps lacks --model (still listed in /v1/models): warns on model_not_loaded, never restarts"},
		{fault: fBackendOnCPU, sim: personality(councilsim.PersonalityOllama, councilsim.BackendFaultOnCPU), args: append(model, "--gpu", "required"),
			want: want{code: 1, event: "model_on_cpu", check: "model_on_cpu", alert: delivered, then: serverNotRestarted},
			note: "/api/ps size_vram < size, --gpu required: warns on model_on_cpu, never restarts (the default, auto, warns only when a model has less in GPU memory than before on this host)"},
		{fault: fBackendBusy,
			setup: func(t *testing.T, w *world) {
				p := w.loadPrimarySim(false, "--personality", "vllm")
				w.args = append(w.args, "--backend", "vllm")
				w.primaryFault(p, "wedge")
				resp, err := http.Post(p.Control+"/backend-load", "application/json", strings.NewReader(`{"running":2,"waiting":1}`))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				w.canaryHang(2, time.Now())
			},
			want: want{code: 0, event: "probe_skip_busy", check: "wedged", then: func(t *testing.T, w *world) {
				serverNotRestarted(t, w)
				if hasCall(w.ld.Calls(), "kickstart -k") {
					t.Errorf("kickstart -k of a server at work: %q", w.ld.Calls())
				}
				if ev := probetest.Find(w.events(), "probe_skip_busy", "wedged"); len(ev) == 0 || ev[0]["reason"] != "requests" {
					t.Errorf("probe_skip_busy %v: want reason requests", ev)
				}
			}},
			note: "canary hang x2, idle CPU, /metrics shows requests running with tokens advancing: probe_skip_busy reason=requests until --max-busy"},
	}
}
