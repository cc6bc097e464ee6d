package integration

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/testkit/forceflowsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// The alert path against a hostile or broken Force Flow, and a damaged
// outbox. Shown on the guardian: every probe shares this path (pkg/probe,
// pkg/core/alert/deliver), so one column proves it.
const (
	fFFPassword    = "Force Flow URL with a password"
	fFFRedirect    = "Force Flow redirects (307)"
	fFFProxy       = "HTTP_PROXY set"
	fFFSlow        = "Force Flow answers in 3.3 s"
	fFF401         = "Force Flow 401"
	fFF403         = "Force Flow 403"
	fFF404         = "Force Flow 404"
	fFF408         = "Force Flow 408"
	fFF413         = "Force Flow 413"
	fFFPortal      = "Force Flow 200, HTML (captive portal)"
	fFFStatusError = `Force Flow 200, {"status":"error"}`
	fOutboxCorrupt = "outbox truncated"
	fOutboxOver    = "outbox over --outbox-max"
)

func init() {
	register("guardian", []string{fFFPassword, fFFRedirect, fFFProxy, fFFSlow,
		fFF401, fFF403, fFF404, fFF408, fFF413, fFFPortal, fFFStatusError,
		fOutboxCorrupt, fOutboxOver}, func() []cell { return hardeningAlertCells(guardianDown) })
}

func hardeningAlertCells(tr trigger) []cell {
	base := func(f string, setup func(t *testing.T, w *world), fate fate) cell {
		return cell{fault: f, sim: tr.sim, ticks: tr.ticks,
			setup: func(t *testing.T, w *world) {
				if tr.setup != nil {
					tr.setup(t, w)
				}
				setup(t, w)
			},
			args: []string{"--alert-budget", "2s"},
			want: want{code: tr.code, event: tr.event, check: tr.check, alert: fate},
		}
	}
	// retried: Force Flow refuses in a way an operator can fix; the alert
	// is kept, and delivered once Force Flow is fixed.
	retried := func(f, mode string) cell {
		c := base(f, func(t *testing.T, w *world) { w.ff.SetMode(mode) }, spooled)
		c.note = "kept and retried (only a 400 naming the payload is final)"
		c.want.then = deliveredOnceFixed(tr)
		return c
	}

	const pw = "ff-Pa55word"
	password := base(fFFPassword, func(t *testing.T, w *world) {
		u, _ := url.Parse(w.ff.URL())
		u.User = url.UserPassword("ff", pw)
		w.args = append(w.args, "--force-flow-url", u.String())
		w.ff.SetMode(forceflowsim.Mode500)
	}, spooled)
	password.note = "masked (ff:xxxxx@) in the outbox, events and output"
	password.want.then = func(t *testing.T, w *world) {
		for _, f := range []string{w.outboxFile(), w.logFile()} {
			if data, _ := os.ReadFile(f); strings.Contains(string(data), pw) {
				t.Errorf("the Force Flow password is written in %s:\n%s", f, data)
			}
		}
		for _, o := range w.outs {
			if strings.Contains(o, pw) {
				t.Errorf("the Force Flow password is in the output:\n%s", o)
			}
		}
	}

	var elsewhere *probetest.ForceFlow
	redirect := base(fFFRedirect, func(t *testing.T, w *world) {
		elsewhere = probetest.NewForceFlow(t)
		w.ff.SetMode(forceflowsim.ModeRedirect)
		w.ff.SetRedirect(elsewhere.URL())
	}, spooled)
	redirect.note = "not followed; kept for retry"
	redirect.want.then = func(t *testing.T, w *world) {
		if a := elsewhere.Alerts(); len(a) != 0 {
			t.Errorf("the redirect was followed: its target got %+v", a)
		}
	}

	var proxy *probetest.ForceFlow
	viaProxy := base(fFFProxy, func(t *testing.T, w *world) {
		// A proxy that would answer like Force Flow: whatever reaches it
		// is recorded. The notifier's name does not resolve, so only a
		// client that uses the proxy could deliver.
		proxy = probetest.NewForceFlow(t)
		pu, _ := url.Parse(proxy.URL())
		w.env = append(w.env, "HTTP_PROXY=http://"+pu.Host, "http_proxy=http://"+pu.Host)
		w.args = append(w.args, "--force-flow-url", "http://forceflow.invalid/notify")
	}, spooled)
	viaProxy.note = "the alert client ignores the proxy, like the council client"
	viaProxy.want.then = func(t *testing.T, w *world) {
		if a := proxy.Alerts(); len(a) != 0 {
			t.Errorf("the alert went through HTTP_PROXY: %+v", a)
		}
	}

	slowFF := base(fFFSlow, func(t *testing.T, w *world) { w.ff.SetDelay(3300 * time.Millisecond) }, delivered)
	slowFF.args = []string{"--alert-budget", "10s"}
	slowFF.note = "inside --alert-budget: delivered once (one attempt, Idempotency-Key)"
	slowFF.want.then = func(t *testing.T, w *world) {
		if n := len(w.ff.AlertsFor(tr.check)); n != 1 {
			t.Errorf("Force Flow got the %s alert %d times, want once", tr.check, n)
		}
	}

	return []cell{password, redirect, viaProxy, slowFF,
		retried(fFF401, "401"), retried(fFF403, "403"), retried(fFF404, "404"), retried(fFF408, "408"), retried(fFF413, "413"),
		retried(fFFPortal, forceflowsim.ModeHTML200), retried(fFFStatusError, forceflowsim.ModeStatusError),
		outboxTruncated(), outboxOverMax(),
	}
}

// deliveredOnceFixed: with Force Flow fixed and the fault healed, the next
// tick delivers the spooled alert and empties the outbox.
func deliveredOnceFixed(tr trigger) func(t *testing.T, w *world) {
	return func(t *testing.T, w *world) {
		w.ff.SetMode(forceflowsim.ModeUp)
		tr.heal(t, w)
		w.tick()
		if !deliveredFor(w, tr.check) {
			t.Errorf("the kept %s alert was not delivered once Force Flow was fixed; got %+v", tr.check, w.ff.Alerts())
		}
		if n := len(w.outbox()); n != 0 {
			t.Errorf("outbox still holds %d notices after delivery", n)
		}
	}
}

// spool writes an outbox of n undelivered guardian notices.
func spool(t *testing.T, w *world, n int) []byte {
	o, err := alert.LoadOutbox(w.outboxFile(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	for i := 0; i < n; i++ {
		o.Add("forceflow", alert.Notice{Probe: "guardian", Check: "unreachable", Severity: alert.Error,
			Title: "council-guardian: unreachable", Message: fmt.Sprintf("earlier alert %d", i), At: at}, at, "connection refused")
	}
	if err := o.Save(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(w.outboxFile())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func alertsTitled(w *world, suffix string) []forceflowsim.Payload {
	var out []forceflowsim.Payload
	for _, a := range w.ff.Alerts() {
		if strings.HasSuffix(a.Title, suffix) {
			out = append(out, a)
		}
	}
	return out
}

// outboxTruncated: an outbox cut inside its third entry (a damaged disk)
// loses only that one and the next; the two complete ones are delivered,
// the file is kept, and one alert says how many were lost.
func outboxTruncated() cell {
	return cell{fault: fOutboxCorrupt,
		setup: func(t *testing.T, w *world) {
			data := spool(t, w, 4)
			cut := strings.Index(string(data), `"id": 3`)
			if err := os.WriteFile(w.outboxFile(), data[:cut+8], 0o600); err != nil {
				t.Fatal(err)
			}
		},
		want: want{code: 0, event: "outbox_corrupt", alert: delivered, alertCheck: "outbox_corrupt",
			then: func(t *testing.T, w *world) {
				if n := len(w.ff.AlertsFor("unreachable")); n != 2 {
					t.Errorf("%d salvaged alerts delivered, want the 2 complete ones; got %+v", n, w.ff.Alerts())
				}
				r := alertsTitled(w, ": outbox_corrupt")
				if len(r) != 1 || !strings.Contains(r[0].Message, "2 undelivered alert(s)") {
					t.Errorf("want one outbox_corrupt alert saying 2 were lost; got %+v", w.ff.Alerts())
				}
				if _, err := os.Stat(w.outboxFile() + ".corrupt"); err != nil {
					t.Errorf("the damaged outbox was not kept: %v", err)
				}
			}},
		note: "kept as .corrupt, complete entries salvaged, one alert counts the lost",
	}
}

// outboxOverMax: an outbox of 50 with --outbox-max 10 is trimmed on load
// to the newest 10, and the 40 dropped are reported.
func outboxOverMax() cell {
	return cell{fault: fOutboxOver,
		setup: func(t *testing.T, w *world) { spool(t, w, 50) },
		args:  []string{"--outbox-max", "10"},
		want: want{code: 0, event: "outbox_trimmed", alert: delivered, alertCheck: "outbox_overflow",
			then: func(t *testing.T, w *world) {
				if n := len(w.ff.AlertsFor("unreachable")); n != 10 {
					t.Errorf("%d spooled alerts delivered, want the newest 10", n)
				}
				r := alertsTitled(w, ": outbox_overflow")
				if len(r) != 1 || !strings.Contains(r[0].Message, "40 alert(s)") {
					t.Errorf("want one outbox_overflow alert counting 40; got %+v", r)
				}
			}},
		note: "trimmed on load, oldest first; the overflow is alerted",
	}
}
