package guardian_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// setLoad makes the simulator's /metrics report other clients' requests.
func setLoad(t *testing.T, controlURL string, running, waiting int) {
	t.Helper()
	resp, err := http.Post(controlURL+"/backend-load", "application/json",
		strings.NewReader(fmt.Sprintf(`{"running":%d,"waiting":%d}`, running, waiting)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /backend-load: HTTP %d", resp.StatusCode)
	}
}

// A hung chat on a vLLM server whose CPU idles but whose /metrics shows
// requests running with tokens advancing is busy (reason requests): not
// restarted until --max-busy, then a runaway as for a busy CPU.
func TestHungPrimaryServingRequestsIsBusy(t *testing.T) {
	r := newRig(t)
	prim, ctl := r.loadSim(false, "--personality", "vllm")
	r.args = append(append(r.args, "--url", prim.URL, "--backend", "vllm"), wedgedArgs...)
	setFault(t, ctl, "wedge")
	setLoad(t, ctl, 2, 1)
	r.canaryHang(2, time.Now())
	setup := len(r.ld.Calls())

	wantCode(t, r.run("--max-busy", "1h"), 0)
	evs := r.events()
	if ev := one(t, evs, "probe_skip_busy", "wedged"); ev["reason"] != "requests" || ev["requests_running"] != float64(2) {
		t.Fatalf("probe_skip_busy: %v", ev)
	}
	none(t, evs, "wedged")
	wantCalls(t, r.mutating(setup))

	r.run("--max-busy", "1ms")
	if ev := one(t, r.events(), "wedged", "wedged"); ev["reason"] != "runaway" || ev["busy_by"] != "requests" {
		t.Fatalf("wedged event: %v", ev)
	}
	wantCalls(t, r.mutating(setup), "kickstart -k "+service(primaryLabel))
}

// A wedged vLLM server shows its stuck request as running, but its token
// counter stands still: wedged and restarted, as with the CPU alone.
func TestStuckRequestRunningIsStillWedged(t *testing.T) {
	r := newRig(t)
	prim, ctl := r.loadSim(false, "--personality", "vllm")
	r.args = append(append(r.args, "--url", prim.URL, "--backend", "vllm"), wedgedArgs...)
	setFault(t, ctl, "wedge")
	// The canary's stuck request, still open while the guardian looks.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, prim.URL+"/v1/chat/completions",
			strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"max_tokens":8}`))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitRunning(t, prim.URL, 1)
	r.canaryHang(2, time.Now())
	setup := len(r.ld.Calls())

	r.run()
	if ev := one(t, r.events(), "wedged", "wedged"); ev["reason"] != "idle" {
		t.Fatalf("wedged event: %v", ev)
	}
	none(t, r.events(), "probe_skip_busy")
	wantCalls(t, r.mutating(setup), "kickstart -k "+service(primaryLabel))
}

// waitRunning waits until the simulator's vLLM /metrics reports n requests
// running.
func waitRunning(t *testing.T, url string, n int) {
	t.Helper()
	want := fmt.Sprintf("} %d.0\n", n)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			continue
		}
		var b [4096]byte
		k, _ := resp.Body.Read(b[:])
		resp.Body.Close()
		for _, line := range strings.Split(string(b[:k]), "\n") {
			if strings.HasPrefix(line, "vllm:num_requests_running{") && strings.HasSuffix(line+"\n", want) {
				return
			}
		}
	}
	t.Fatalf("the simulator never reported %d request(s) running", n)
}
