package probetest

import (
	"os"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/probe"
)

// TestNewTickHysteresis: the in-process tick runs a probe's reports
// through the real alert engine, on the fake clock, over one state from
// tick to tick: the second failure in a row alerts (threshold 2), the
// third is held back (cooldown), the pass announces the recovery.
func TestNewTickHysteresis(t *testing.T) {
	p := &probe.Probe{Name: "demo", Default: alert.Policy{Threshold: 2, Cooldown: 30 * time.Minute}}
	k := NewTick(t, p, probe.Common{})
	k.Fail("answer", "answer_wrong", alert.Error, "said 5")
	if n := len(k.Alerts()); n != 0 {
		t.Fatalf("first failure queued %d alert(s); want none below the threshold", n)
	}
	if got := k.Find("answer_wrong", "answer"); len(got) != 1 || got[0]["consecutive"] != 1.0 || got[0]["detail"] != "said 5" {
		t.Fatalf("events %v", k.Events())
	}
	if code := k.ExitCode(); code != probe.ExitCritical {
		t.Fatalf("exit %d; want 2", code)
	}

	k = k.Next(10 * time.Minute)
	k.Fail("answer", "answer_wrong", alert.Error, "said 5")
	alerts := k.Alerts()
	if len(alerts) != 1 || alerts[0].Check != "answer" || !alerts[0].At.Equal(Epoch.Add(10*time.Minute)) {
		t.Fatalf("second failure: alerts %+v; want one for answer at the clock's time", alerts)
	}

	k = k.Next(10 * time.Minute)
	k.Fail("answer", "answer_wrong", alert.Error, "said 5")
	if n := len(k.Alerts()); n != 0 {
		t.Fatalf("third failure within the cooldown queued %d alert(s)", n)
	}

	k = k.Next(10 * time.Minute)
	k.Pass("answer", "answer_ok")
	if alerts := k.Alerts(); len(alerts) != 1 || alerts[0].Check != "answer" || alerts[0].Severity != alert.Info {
		t.Fatalf("recovery: alerts %+v; want one info notice", alerts)
	}
	if len(k.Find("recovered", "answer")) != 1 {
		t.Fatalf("no recovered event: %v", k.Events())
	}
}

// TestNewTickStaysInItsHome: the tick's home and state dir are the test's
// temporary directory; a tick writes nothing there by itself.
func TestNewTickStaysInItsHome(t *testing.T) {
	k := NewTick(t, &probe.Probe{Name: "demo"}, probe.Common{})
	if k.StatePath != "" {
		t.Fatalf("StatePath %q: an in-process tick saves nothing", k.StatePath)
	}
	entries, err := os.ReadDir(k.Common.StateDir)
	if err != nil || len(entries) != 0 {
		t.Fatalf("state dir %s: %v, %v; want it empty", k.Common.StateDir, entries, err)
	}
	// A clock stepped back is the tick's time too.
	k.Clock.Advance(-time.Hour)
	if !k.Now().Equal(Epoch.Add(-time.Hour)) {
		t.Fatalf("Now %s", k.Now())
	}
}
