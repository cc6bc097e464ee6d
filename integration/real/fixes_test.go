//go:build real

package real

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/testkit/realollama"
	"github.com/sanctum/council-probes/pkg/testkit/tinyllama"
)

// What a real Ollama showed the probes getting wrong, one test per defect,
// each against the real server. Each failed on the probes before its fix;
// the simulator replays each too, in the probes' own tests
// (docs/RELIABILITY.md, "What the real servers showed").

// keepBusy runs another client's chats back to back until the returned
// stop is called: the tiny model counts to max_tokens, so the server's
// runner works the whole time, as under a user's long chat.
func keepBusy(t *testing.T, h *host) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		body, _ := json.Marshal(map[string]any{
			"model": h.model.Name, "temperature": 0, "max_tokens": 2000, "stream": true,
			"messages": []map[string]string{{"role": "user", "content": "Count for a while."}},
		})
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL+"/v1/chat/completions", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	// Until the runner has the first chat: its model loaded and working.
	deadline := time.Now().Add(time.Minute)
	for len(h.srv.PS(t)) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// 1. A busy Ollama is not wedged: its work runs in `ollama runner`, a
// child of the `ollama serve` whose pid launchd knows. With chat hanging
// for two canary ticks (the canary's state says so) and another client's
// chats keeping the runner busy, the guardian samples the whole process
// tree: busy, not restarted. Before, it sampled serve alone ("idle (1.3%
// of a core): wedged ... restarting").
func TestRealBusyRunnerIsNotWedged(t *testing.T) {
	h := newHost(t, hostConfig{})
	h.srv.Load(t, h.model.Name, "")
	keepBusy(t, h)
	h.canaryHang(2)
	tk := h.run("guardian", "--cpu-window", "3s", "--idle-cpu", "0.05", "--max-busy", "1h")
	tk.wantCode(t, 0)
	ev := tk.one(t, "probe_skip_busy", "wedged")
	if ev["reason"] != "cpu" || ev["pid"] != float64(h.srv.PID()) {
		t.Errorf("probe_skip_busy %v, want reason cpu for ollama serve's pid", ev)
	}
	if n, _ := ev["cpu_procs"].(float64); n < 2 {
		t.Errorf("cpu_procs %v: the sample should cover serve and its runner", ev["cpu_procs"])
	}
	if got := tk.find("wedged", "wedged"); len(got) != 0 {
		t.Errorf("a busy Ollama was called wedged:\n%s", tk)
	}
	if calls := h.ld.MutatingCalls(); len(calls) != 1 {
		t.Errorf("launchctl calls %q: a busy Ollama was restarted", calls)
	}
}

// 2. A busy Ollama is busy, not degraded. Serving one request at a time
// (OLLAMA_NUM_PARALLEL=1), it queues pace's request behind another
// client's chat without a word: no /metrics. Pace learns on a quiet
// server, then samples while another client's chats run: busy (its tree's
// CPU before the request, or the other chat's gin line in the log during
// the sample), never judged. Before, pace read neither and called it
// ttft_degraded (3.2x and 3.9x).
func TestRealPaceBusyOllamaIsBusy(t *testing.T) {
	h := newHost(t, hostConfig{server: realollama.Options{Env: []string{"OLLAMA_NUM_PARALLEL=1"}}})
	h.srv.Load(t, h.model.Name, "")
	args := []string{"--warmup", "2", "--decode-tokens", "32"}
	for range 2 {
		h.run("pace", args...).one(t, "pace_sample", "")
	}
	keepBusy(t, h)
	tk := h.run("pace", args...)
	tk.wantCode(t, 0)
	ev := tk.one(t, "pace_sample", "")
	if ev["result"] != "busy" || (ev["busy_reason"] != "cpu" && ev["busy_reason"] != "access_log") {
		t.Fatalf("pace_sample %v, want busy by the CPU or the access log", ev)
	}
	if got := tk.find("pace_degraded", ""); len(got) != 0 {
		t.Errorf("a busy sample was judged:\n%s", tk)
	}
}

// 3. A model replaced under its own name is new weights. After `ollama
// create` replaces a loaded model, /api/ps lists the name twice, the new
// digest first and the old one (its runner still loaded) second. Drift
// says server_changed, naming the digests, once. Before, it kept the last
// entry, the old digest, and said server_identity_unchanged.
func TestRealDriftSeesAModelReplaced(t *testing.T) {
	h := newHost(t, hostConfig{})
	h.srv.Load(t, h.model.Name, "10m")
	h.run("drift").one(t, "server_identity_recorded", "")
	old := h.srv.PS(t)[0].Digest

	h.srv.Create(t, "tiny", realollama.Model{Tiny: tinyllama.Config{Words: tinyllama.Counting(150)}})
	// Ollama sorts /api/ps by expires_at in whole seconds, latest first
	// (server/routes.go, PsHandler); within one second the order is its
	// map's. Loaded a second later, the new model is listed first, as in
	// the run that found the defect.
	time.Sleep(1100 * time.Millisecond)
	h.srv.Load(t, h.model.Name, "10m")
	ps := h.srv.PS(t)
	if len(ps) != 2 || ps[0].Name != ps[1].Name || ps[1].Digest != old || ps[0].Digest == old {
		t.Fatalf("/api/ps after ollama create %+v: want the name twice, the new digest first, the old %s second", ps, old[:12])
	}
	tk := h.run("drift")
	tk.wantCode(t, 0)
	ev := tk.one(t, "server_changed", "server_changed")
	if d := fmt.Sprint(ev["detail"]); !strings.Contains(d, h.model.Name+" digest "+old[:12]+" -> "+ps[0].Digest[:12]) {
		t.Errorf("server_changed %q, want the digest change named", d)
	}
	tk = h.run("drift")
	tk.one(t, "server_identity_unchanged", "")
	if a := h.alertsFor("server_changed"); len(a) != 1 {
		t.Errorf("server_changed notices %q, want one", a)
	}
}

// 4. A cold model is not a slow server. Ollama unloads a model after its
// keep-alive (5 minutes by default, shorter than pace's 15 and the
// canary's 10). Pace, having learned on a loaded model, finds it unloaded:
// it loads it first and times the load on its own (cold, load_ms), and
// judges a sample on the loaded model. Before, the load was the sample's
// time to first token: degraded.
func TestRealPaceColdModelIsLoadedFirst(t *testing.T) {
	h := newHost(t, hostConfig{plain: true})
	h.srv.Load(t, h.model.Name, "")
	// A short prompt, so a warm first token is quick beside a load; the
	// decode is judged leniently: this test is about the first token, and
	// a few dozen tokens of a tiny model on a shared machine are noisy.
	args := []string{"--warmup", "2", "--prompt-tokens", "64", "--decode-tokens", "64", "--decode-factor", "0.1", "--metrics-dir", h.home.Dir}
	for range 2 {
		h.run("pace", args...).one(t, "pace_sample", "")
	}
	h.srv.Unload(t, h.model.Name)
	tk := h.run("pace", args...)
	tk.wantCode(t, 0)
	ev := tk.one(t, "pace_sample", "")
	if ev["result"] != "ok" || ev["cold"] != true {
		t.Fatalf("pace_sample %v, want ok, cold", ev)
	}
	if load, _ := ev["load_ms"].(float64); load <= 0 {
		t.Errorf("load_ms %v", ev["load_ms"])
	}
	if len(h.srv.PS(t)) != 1 {
		t.Error("the model is not loaded after the cold sample")
	}
	prom, err := os.ReadFile(filepath.Join(h.home.Dir, "council_pace.prom"))
	if err != nil || !strings.Contains(string(prom), "council_pace_load_seconds{") {
		t.Errorf("the textfile lacks council_pace_load_seconds (%v):\n%s", err, prom)
	}
}

// 4. The canary's question to an unloaded model loads it first: the
// limits get --load-allowance and the result says cold. Here the limits
// are shorter than the load; before, that was a hang.
func TestRealCanaryColdModelGetsItsAllowance(t *testing.T) {
	h := newHost(t, hostConfig{plain: true, modelName: "four",
		model: realollama.Model{Tiny: tinyllama.Config{Words: []string{"4"}, Stop: true}}})
	for _, mode := range [][]string{nil, {"--stream"}} {
		h.srv.Unload(t, h.model.Name)
		tk := h.run("canary", append(mode, "--deadline", "100ms", "--ttfb-timeout", "100ms", "--load-allowance", "90s")...)
		tk.wantCode(t, 0)
		if ev := tk.one(t, "canary_ok", "wrong_answer"); ev["cold"] != true || ev["load_allowance_ms"] != 90000.0 {
			t.Errorf("canary %v: %v, want cold with the allowance", mode, ev)
		}
	}
}

// 5. A host without a GPU is not a warning every tick. Ollama reports
// size_vram 0 for a model here; with --gpu auto (the default) the
// guardian warns only when a model has less of itself in GPU memory than
// before on this host, so twice OK; --gpu required says "entirely on
// CPU". Before, every tick warned model_on_cpu "only partly in GPU memory
// (0 of N bytes)".
func TestRealGuardianCPUOnlyHost(t *testing.T) {
	h := newHost(t, hostConfig{})
	h.srv.Load(t, h.model.Name, "")
	if ps := h.srv.PS(t); len(ps) != 1 || ps[0].SizeVRAM != 0 {
		t.Fatalf("/api/ps %+v: want the model loaded with size_vram 0 on this host", ps)
	}
	for range 2 {
		tk := h.run("guardian")
		tk.wantCode(t, 0)
		if got := tk.find("model_on_cpu", ""); len(got) != 0 {
			t.Fatalf("--gpu auto warned on a host without a GPU:\n%s", tk)
		}
	}
	tk := h.run("guardian", "--gpu", "required")
	tk.wantCode(t, 1)
	if d := fmt.Sprint(tk.one(t, "model_on_cpu", "model_on_cpu")["detail"]); !strings.Contains(d, "entirely on CPU (0 of ") {
		t.Errorf("model_on_cpu %q, want entirely on CPU", d)
	}
}

// 6. The canary does not pass junk. The counting model answers "2+2" with
// 256 tokens of counting, cut by max_tokens, with a standalone 4 in it:
// wrong_answer, the detail naming the rule (cut). Before, canary_ok.
func TestRealCanaryRejectsARamble(t *testing.T) {
	h := newHost(t, hostConfig{plain: true})
	for _, mode := range [][]string{nil, {"--stream"}} {
		tk := h.run("canary", mode...)
		tk.wantCode(t, 2)
		ev := tk.one(t, "canary_fail", "wrong_answer")
		if ev["answer_rule"] != "cut" || ev["finish_reason"] != "length" || !strings.Contains(fmt.Sprint(ev["detail"]), "cut by the token limit") {
			t.Errorf("canary %v: %v, want the cut rule", mode, ev)
		}
	}
}

// 7. Without --model the guardian checks the models Ollama lists as
// loaded (an empty --model stands for the server's own), and a server it
// cannot ask is backend=unknown, not generic. Before, an empty --model
// checked no residency, and a down server's events said generic.
func TestRealGuardianLoadedModelsAndUnknownBackend(t *testing.T) {
	h := newHost(t, hostConfig{})
	h.srv.Load(t, h.model.Name, "")
	tk := h.run("guardian", "--model", "", "--gpu", "required")
	tk.wantCode(t, 1)
	if ev := tk.one(t, "model_on_cpu", "model_on_cpu"); ev["model"] != h.model.Name {
		t.Errorf("model_on_cpu %v, want the loaded %s", ev, h.model.Name)
	}

	pid := h.srv.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.srv.WaitDown(ctx); err != nil {
		t.Fatal(err)
	}
	// The backend cache would name the server it saw: a restart (or a
	// new day) detects again; here the cache is dropped as a restart
	// drops it.
	h.dropBackendCache()
	// --busy-window 0: the guardian reads Ollama's gin lines, and the
	// test's own load of the model is seconds old: it would rightly defer.
	tk = h.run("guardian", "--restart-after", "5", "--busy-window", "0")
	ev := tk.one(t, "probe_fail", "unreachable")
	if ev["backend"] != "unknown" {
		t.Errorf("probe_fail %v, want backend unknown", ev)
	}
}

// dropBackendCache removes the guardian's cached backend detection, as a
// restart does: the next tick detects again.
func (h *host) dropBackendCache() {
	h.t.Helper()
	if err := os.Remove(filepath.Join(h.home.StateDir, backend.CacheFile)); err != nil && !os.IsNotExist(err) {
		h.t.Fatal(err)
	}
}
