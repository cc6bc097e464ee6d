package backend_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

// Other clients' requests (SetReportedLoad) show in the metrics of the
// servers that export them, and while they run the token counter advances
// from one read to the next; with none running it stands still.
func TestMetricsReportOtherClientsAndTheirProgress(t *testing.T) {
	for _, tc := range []struct {
		p councilsim.Personality
		k backend.Kind
	}{{councilsim.PersonalityLlamaServer, backend.LlamaServer}, {councilsim.PersonalityVLLM, backend.VLLM}} {
		t.Run(string(tc.k), func(t *testing.T) {
			sim, c := startPersonality(t, tc.p, "", nil)
			a := adapter(t, tc.k, c)
			read := func() backend.Metrics {
				t.Helper()
				mt, err := a.Metrics(ctx(t))
				if err != nil {
					t.Fatal(err)
				}
				if mt.RequestsRunning == nil || mt.RequestsWaiting == nil || mt.ProgressTotal == nil {
					t.Fatalf("Metrics = %+v: running, waiting and the token counter must be reported", mt)
				}
				return mt
			}
			idle1, idle2 := read(), read()
			if *idle2.ProgressTotal != *idle1.ProgressTotal || *idle1.RequestsRunning != 0 {
				t.Errorf("idle server: tokens %v then %v, running %v; want still and 0", *idle1.ProgressTotal, *idle2.ProgressTotal, *idle1.RequestsRunning)
			}
			if err := sim.SetReportedLoad(3, 2); err != nil {
				t.Fatal(err)
			}
			busy1, busy2 := read(), read()
			if *busy1.RequestsRunning != 3 || *busy1.RequestsWaiting != 2 {
				t.Errorf("running %v waiting %v, want 3 and 2", *busy1.RequestsRunning, *busy1.RequestsWaiting)
			}
			if *busy2.ProgressTotal <= *busy1.ProgressTotal {
				t.Errorf("tokens %v then %v while others run: want them to advance", *busy1.ProgressTotal, *busy2.ProgressTotal)
			}
			if err := sim.SetReportedLoad(-1, 0); err == nil {
				t.Error("SetReportedLoad(-1, 0): want an error")
			}
		})
	}
}

// llama-server adds a request's generated tokens to tokens_predicted_total
// only when the request ends; mid-generation only n_decode_total moves.
// The progress counter must move with it.
func TestLlamaProgressCountsDecodeCalls(t *testing.T) {
	var decodes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "# TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total 120\n"+
			"# TYPE llamacpp:tokens_predicted_total counter\nllamacpp:tokens_predicted_total 80\n"+
			"# TYPE llamacpp:n_decode_total counter\nllamacpp:n_decode_total %d\n"+
			"# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 1\n", decodes.Add(7))
	}))
	t.Cleanup(srv.Close)
	a := adapter(t, backend.LlamaServer, client(t, srv.URL))
	m1, err1 := a.Metrics(ctx(t))
	m2, err2 := a.Metrics(ctx(t))
	if err1 != nil || err2 != nil || m1.ProgressTotal == nil || m2.ProgressTotal == nil {
		t.Fatalf("Metrics = %+v, %v; %+v, %v", m1, err1, m2, err2)
	}
	if *m2.ProgressTotal <= *m1.ProgressTotal {
		t.Errorf("progress %v then %v while only n_decode_total advanced: want it to advance", *m1.ProgressTotal, *m2.ProgressTotal)
	}
}
