package guardian

import (
	"context"
	"fmt"

	"github.com/sanctum/council-probes/pkg/server/backend"
)

// reasonRequests is the busy reason of a hung primary whose own metrics
// show it at work: requests running and its token counter advancing.
const reasonRequests = "requests"

// requestsBusy says whether two reads of the server's metrics, taken a CPU
// window apart, show a server at work: requests running at the second read
// and its token counter advanced since the first. A running count alone is
// no proof: the canary's stuck request (and every request after it) shows
// as running on a wedged server too, and nothing tells the probes' own
// stuck requests from other clients'. Tokens being processed do. A server
// that does not export the running count or a token counter (absent, which
// is not zero) is never busy by this rule: its CPU decides, as without a
// backend. why says what the reads showed, for the event.
func requestsBusy(before, after backend.Metrics) (busy bool, why string) {
	run, t0, t1 := after.RequestsRunning, before.ProgressTotal, after.ProgressTotal
	switch {
	case run == nil || t0 == nil || t1 == nil:
		return false, "the server does not report its running requests and token counter"
	case *run <= 0:
		return false, "the server reports no request running"
	case *t1 <= *t0:
		return false, fmt.Sprintf("%g request(s) running but the server's token counter stood still at %g", *run, *t1)
	}
	return true, fmt.Sprintf("%g request(s) running and %g token(s) processed in the window", *run, *t1-*t0)
}

// readServerMetrics asks the server for its load, where the backend can
// say; the zero Metrics (all absent) otherwise or on error.
func (g *guardian) readServerMetrics(ctx context.Context) backend.Metrics {
	t := g.t
	if t.Server == nil || t.Backend.Kind == backend.Generic {
		return backend.Metrics{}
	}
	actx, cancel := context.WithTimeout(ctx, backendAskTimeout)
	defer cancel()
	m, err := t.Server.Metrics(actx)
	if err != nil {
		t.Log.Warn("backend_unanswered", "check", CheckWedged, "what", "metrics", "error", err.Error())
		return backend.Metrics{}
	}
	t.ServerMetrics = m
	return m
}
