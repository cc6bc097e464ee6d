package pace

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

func TestOtherRequests(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	m := func(running, waiting *float64) backend.Metrics {
		return backend.Metrics{RequestsRunning: running, RequestsWaiting: waiting}
	}
	for _, tc := range []struct {
		name          string
		before, after backend.Metrics
		want          int
	}{
		{"absent: not busy (absent is not zero, nor busy)", backend.Metrics{}, backend.Metrics{}, 0},
		{"idle server", m(f(0), f(0)), m(f(0), f(0)), 0},
		{"the probe's own request still counted after its answer", m(f(0), f(0)), m(f(1), f(0)), 0},
		{"another client running before", m(f(1), f(0)), m(f(0), f(0)), 1},
		{"another beside the probe's own after", m(f(0), f(0)), m(f(2), f(0)), 1},
		{"waiting after", m(f(0), nil), m(f(1), f(3)), 3},
		{"only waiting exported", m(nil, f(2)), m(nil, f(0)), 2},
		{"the larger read wins", m(f(2), f(1)), m(f(2), f(0)), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, why := otherRequests(tc.before, tc.after)
			if n != tc.want || (n > 0) != (why != "") {
				t.Errorf("otherRequests = %d (%q), want %d (with a reason when busy)", n, why, tc.want)
			}
		})
	}
}

// TestBusyByServerMetrics: on a vLLM server whose /metrics reports other
// clients' requests, the sample is busy (reason requests): measured,
// neither judged nor learned. The probe's own request is not another's.
func TestBusyByServerMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *councilsim.Config) {
		c.Personality = councilsim.PersonalityConfig{Personality: councilsim.PersonalityVLLM}
	})
	f.args = append(f.args, "--backend", "vllm")
	f.learn(t) // idle: the probe's own request alone is not busy
	before := f.baseline(t)
	f.setPace(t, councilsim.Pace{TTFT: 4 * usualTTFT, TokenDelay: usualDelay})
	if err := f.sim.SetReportedLoad(2, 1); err != nil {
		t.Fatal(err)
	}
	tk := f.run(t)
	ev := tk.mustResult(t, resultBusy, 0)
	if ev["busy_reason"] != busyByRequests || ev["busy_server_requests"] != float64(3) || !strings.Contains(ev["busy_detail"].(string), "2 running, 1 waiting") {
		t.Errorf("busy event %v: want reason requests, 3 other requests and what the server said", ev)
	}
	if n := len(f.ff.Alerts()); n != 0 || len(tk.events) == 0 {
		t.Errorf("a busy sample alerted: %+v", f.ff.Alerts())
	}
	if after := f.baseline(t); after.Learned != before.Learned || len(after.TTFT) != len(before.TTFT) {
		t.Errorf("a busy sample was learned: %+v, before %+v", after, before)
	}
	if !strings.Contains(tk.Stdout, "busy (3 other request(s) during the sample), not judged") {
		t.Errorf("status line %q", tk.Stdout)
	}
	// The others gone, still slow: judged.
	if err := f.sim.SetReportedLoad(0, 0); err != nil {
		t.Fatal(err)
	}
	f.run(t).mustResult(t, resultDegraded, 1)
	f.finalChecks(t)
}
