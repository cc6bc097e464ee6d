package backend_test

import (
	"testing"

	"github.com/sanctum/council-probes/pkg/backend"
	"github.com/sanctum/council-probes/pkg/councilsim"
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
				if mt.RequestsRunning == nil || mt.RequestsWaiting == nil || mt.TokensTotal == nil {
					t.Fatalf("Metrics = %+v: running, waiting and the token counter must be reported", mt)
				}
				return mt
			}
			idle1, idle2 := read(), read()
			if *idle2.TokensTotal != *idle1.TokensTotal || *idle1.RequestsRunning != 0 {
				t.Errorf("idle server: tokens %v then %v, running %v; want still and 0", *idle1.TokensTotal, *idle2.TokensTotal, *idle1.RequestsRunning)
			}
			if err := sim.SetReportedLoad(3, 2); err != nil {
				t.Fatal(err)
			}
			busy1, busy2 := read(), read()
			if *busy1.RequestsRunning != 3 || *busy1.RequestsWaiting != 2 {
				t.Errorf("running %v waiting %v, want 3 and 2", *busy1.RequestsRunning, *busy1.RequestsWaiting)
			}
			if *busy2.TokensTotal <= *busy1.TokensTotal {
				t.Errorf("tokens %v then %v while others run: want them to advance", *busy1.TokensTotal, *busy2.TokensTotal)
			}
			if err := sim.SetReportedLoad(-1, 0); err == nil {
				t.Error("SetReportedLoad(-1, 0): want an error")
			}
		})
	}
}
