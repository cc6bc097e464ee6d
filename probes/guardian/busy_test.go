package guardian

import (
	"testing"

	"github.com/sanctum/council-probes/pkg/server/backend"
)

func TestRequestsBusy(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	m := func(running, tokens *float64) backend.Metrics {
		return backend.Metrics{RequestsRunning: running, ProgressTotal: tokens}
	}
	for _, tc := range []struct {
		name          string
		before, after backend.Metrics
		want          bool
	}{
		{"absent metrics: the CPU decides", backend.Metrics{}, backend.Metrics{}, false},
		{"running but no token counter", m(f(2), nil), m(f(2), nil), false},
		{"counter but no running count", m(nil, f(10)), m(nil, f(50)), false},
		{"counter absent at the first read", m(f(2), nil), m(f(2), f(50)), false},
		{"nothing running", m(f(0), f(10)), m(f(0), f(50)), false},
		{"a stuck request: running, counter still", m(f(1), f(80)), m(f(1), f(80)), false},
		{"a counter that went back (a restart)", m(f(1), f(80)), m(f(1), f(8)), false},
		{"running and tokens advancing", m(f(1), f(80)), m(f(3), f(128)), true},
		{"running only at the second read, tokens advanced", m(f(0), f(80)), m(f(1), f(96)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := requestsBusy(tc.before, tc.after)
			if got != tc.want || why == "" {
				t.Errorf("requestsBusy = %v (%q), want %v with a reason", got, why, tc.want)
			}
		})
	}
}
