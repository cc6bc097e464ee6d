package pace

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/backend"
)

// metricsTimeout bounds each read of the server's /metrics around a sample.
const metricsTimeout = 3 * time.Second

// Why a sample is busy, in pace_sample's busy_reason field.
const (
	busyByLog      = "access_log" // another request completed in the primary's log
	busyByRequests = "requests"   // the server's metrics counted other requests
)

// otherRequests counts the requests of other clients the server reports
// around the sample: running or waiting when the probe is about to send
// its request (before: none of them is the probe's), and running beyond
// one, or waiting, just after its answer ended (after: a server may count
// the probe's own request a moment longer). The larger count wins. A
// series the server does not export counts nothing: absent is not zero,
// and not busy either. why says what was counted, for the event.
func otherRequests(before, after backend.Metrics) (n int, why string) {
	count := func(m backend.Metrics, own float64) float64 {
		var c float64
		if m.RequestsRunning != nil {
			c += math.Max(*m.RequestsRunning-own, 0)
		}
		if m.RequestsWaiting != nil {
			c += math.Max(*m.RequestsWaiting, 0)
		}
		return c
	}
	b, a := count(before, 0), count(after, 1)
	n = int(math.Ceil(math.Max(b, a)))
	if n > 0 {
		why = fmt.Sprintf("the server reported %s before the sample and %s after it", load(before), load(after))
	}
	return n, why
}

// load is "2 running, 1 waiting", or what the server did not report.
func load(m backend.Metrics) string {
	f := func(v *float64, what string) string {
		if v == nil {
			return what + " not reported"
		}
		return fmt.Sprintf("%g %s", *v, what)
	}
	return f(m.RequestsRunning, "running") + ", " + f(m.RequestsWaiting, "waiting")
}

// serverMetrics reads the server's load where the backend exports it;
// all absent otherwise, or when the server does not answer (the sample
// then goes by the access log alone).
func serverMetrics(ctx context.Context, t *probe.Tick) backend.Metrics {
	if t.Server == nil || t.Backend.Kind == backend.Generic {
		return backend.Metrics{}
	}
	ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
	defer cancel()
	m, err := t.Server.Metrics(ctx)
	if err != nil {
		t.Log.Warn("backend_unanswered", "what", "metrics", "error", err.Error())
		return backend.Metrics{}
	}
	return m
}
