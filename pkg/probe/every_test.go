package probe

import (
	"testing"
	"time"
)

// TestEveryFromRegistry: a probe's schedule is its registry entry's unless
// the probe says otherwise; the guardian's "expires within one tick" and
// Alertmanager's hold read it, so a zero would silently disable them.
func TestEveryFromRegistry(t *testing.T) {
	tests := []struct {
		p    Probe
		want time.Duration
	}{
		{Probe{Name: "guardian"}, 30 * time.Second},
		{Probe{Name: "parity-smoke"}, 24 * time.Hour},
		{Probe{Name: "pace", Interval: time.Minute}, time.Minute},
		{Probe{Name: "not-registered"}, 0},
	}
	for _, tt := range tests {
		if got := tt.p.Every(); got != tt.want {
			t.Errorf("%s: Every() = %s, want %s", tt.p.Name, got, tt.want)
		}
	}
}
