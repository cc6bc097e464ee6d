package suite

import (
	"strings"
	"testing"
	"time"
)

// TestRegistryIsWellFormed: names are unique and usable as file names and
// label parts, each probe has exactly one schedule, a question and a
// reason for its RunAtLoad, and exactly one probe checks the agents.
func TestRegistryIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	checksAgents := 0
	for _, p := range Probes {
		if p.Name == "" || strings.ContainsAny(p.Name, "/\\. _") || seen[p.Name] {
			t.Errorf("name %q: want unique, lowercase words joined by -", p.Name)
		}
		seen[p.Name] = true
		if (p.Every > 0) == (p.At != nil) {
			t.Errorf("%s: want exactly one of Every (%s) and At (%v)", p.Name, p.Every, p.At)
		}
		if p.At != nil && (p.At.Hour < 0 || p.At.Hour > 23 || p.At.Minute < 0 || p.At.Minute > 59) {
			t.Errorf("%s: At %s is not a time of day", p.Name, p.At)
		}
		if p.Asks == "" || p.Why == "" {
			t.Errorf("%s: Asks and Why must say something", p.Name)
		}
		if p.ChecksAgents {
			checksAgents++
		}
		if p.OnServerChange && !p.Network {
			t.Errorf("%s: re-checked when the server changes, but it does not talk to the server", p.Name)
		}
	}
	if checksAgents != 1 {
		t.Errorf("%d probes check the agents, want 1 (drift)", checksAgents)
	}
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		p        Probe
		interval time.Duration
		schedule string
	}{
		{Probe{Every: 30 * time.Second}, 30 * time.Second, "every 30s"},
		{Probe{Every: 15 * time.Minute}, 15 * time.Minute, "every 15m"},
		{Probe{Every: time.Hour}, time.Hour, "every 1h"},
		{Probe{Every: 90 * time.Second}, 90 * time.Second, "every 1m30s"},
		{Probe{At: &TimeOfDay{Hour: 3}}, 24 * time.Hour, "daily at 03:00"},
		{Probe{At: &TimeOfDay{Hour: 3, Minute: 30}}, 24 * time.Hour, "daily at 03:30"},
	}
	for _, tt := range tests {
		t.Run(tt.schedule, func(t *testing.T) {
			if got := tt.p.Interval(); got != tt.interval {
				t.Errorf("Interval() = %s, want %s", got, tt.interval)
			}
			if got := tt.p.Schedule(); got != tt.schedule {
				t.Errorf("Schedule() = %q, want %q", got, tt.schedule)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	p, ok := Lookup("pace")
	if !ok || p.Binary() != "council-pace" || p.Label("com.sanctum") != "com.sanctum.council-pace" || p.Interval() != 15*time.Minute {
		t.Errorf("Lookup(pace) = %+v, %t", p, ok)
	}
	if _, ok := Lookup("council-pace"); ok {
		t.Error("Lookup takes a probe name, not a binary name")
	}
	if got := strings.Join(Names(Probes[:2]), ","); got != "guardian,canary" {
		t.Errorf("Names = %q", got)
	}
	// The nightly quality probes are the ones an upgrade re-checks.
	if got := strings.Join(Names(OnServerChange(Probes)), ","); got != "parity-smoke,context" {
		t.Errorf("OnServerChange = %q", got)
	}
}
