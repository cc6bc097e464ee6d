package alert

import (
	"testing"
	"time"
)

func TestEngineHysteresisCooldownRecovery(t *testing.T) {
	now := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	e := NewEngine("canary", nil, Policy{Threshold: 2, Cooldown: 30 * time.Minute})
	e.Now = func() time.Time { return now }

	type step struct {
		after    time.Duration // advance the clock first
		pass     bool
		sev      Severity
		wantSend bool
		wantSev  Severity
	}
	steps := []step{
		{pass: true},                          // healthy: nothing
		{after: 10 * time.Minute, sev: Error}, // first miss: held by hysteresis
		{after: 10 * time.Minute, sev: Error, wantSend: true, wantSev: Error},  // second miss: alert
		{after: 10 * time.Minute, sev: Error},                                  // inside cooldown: quiet
		{after: 10 * time.Minute, sev: Error},                                  // still inside (20m)
		{after: 10 * time.Minute, sev: Error, wantSend: true, wantSev: Error},  // 30m: re-alert
		{after: time.Minute, sev: Critical, wantSend: true, wantSev: Critical}, // escalation skips cooldown
		{after: time.Minute, pass: true, wantSend: true, wantSev: Info},        // one recovered
		{after: time.Minute, pass: true},                                       // and only one
		{after: time.Minute, sev: Error},                                       // new episode: hysteresis again
		{after: time.Minute, pass: true},                                       // never alerted: no recovery
	}
	for i, s := range steps {
		now = now.Add(s.after)
		var n *Notice
		if s.pass {
			n = e.Pass("wrong_answer")
		} else {
			n = e.Fail("wrong_answer", s.sev, "answered 5")
		}
		if (n != nil) != s.wantSend {
			t.Fatalf("step %d: sent=%v, want %v", i, n != nil, s.wantSend)
		}
		if n != nil {
			if n.Severity != s.wantSev {
				t.Fatalf("step %d: severity %s, want %s", i, n.Severity, s.wantSev)
			}
			if n.Title == "" || n.Check != "wrong_answer" || n.Source() != "council-canary" {
				t.Fatalf("step %d: bad notice %+v", i, n)
			}
			if s.pass && !n.Resolved {
				t.Fatalf("step %d: recovery not marked resolved", i)
			}
		}
	}
}

func TestEngineChannelsAreIndependent(t *testing.T) {
	e := NewEngine("drift", nil, Policy{Threshold: 1, Cooldown: time.Hour})
	// A chronic channel firing must not hold back a different one.
	if e.Fail("repo_dirty", Info, "dirty") == nil {
		t.Fatal("first repo_dirty should alert at threshold 1")
	}
	if e.Fail("repo_dirty", Info, "dirty") != nil {
		t.Fatal("repo_dirty re-alerted inside its cooldown")
	}
	n := e.Fail("drifted", Error, "plist differs")
	if n == nil || n.Severity != Error || n.Title != "council-drift: drifted" {
		t.Fatalf("drifted did not alert on its own channel: %+v", n)
	}
}

func TestEnginePolicyOverride(t *testing.T) {
	e := NewEngine("guardian", nil, Policy{Threshold: 3})
	e.Policies["rate_limit"] = Policy{Threshold: 1}
	if e.Fail("rate_limit", Critical, "4th restart refused") == nil {
		t.Fatal("override threshold 1 not applied")
	}
	if e.Fail("unreachable", Error, "refused") != nil {
		t.Fatal("default threshold 3 not applied")
	}
}

func TestEnginePolicyPerSubjectChannel(t *testing.T) {
	e := NewEngine("drift", nil, Policy{Threshold: 3})
	e.Policies["drifted"] = Policy{Threshold: 1}
	if e.Fail("drifted:/Users/neo/Library/LaunchAgents/com.sanctum.mlx.plist", Error, "differs") == nil {
		t.Fatal("per-subject channel did not inherit its check's policy")
	}
	if e.Fail("probe_stale:canary", Error, "silent") != nil {
		t.Fatal("a check without a policy must use the default")
	}
	e.Forget("probe_stale:canary")
	if _, ok := e.Channels["probe_stale:canary"]; ok {
		t.Fatal("Forget kept the channel")
	}
}
