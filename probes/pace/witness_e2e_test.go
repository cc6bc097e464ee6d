package pace

import (
	"fmt"
	"strings"
	"testing"
	"unicode"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// The server is a witness, not a judge: these end-to-end cases replay a
// server that steers pace with what it says about itself.

// TestRenamingServerStaysDegraded: a server 4x slower that names a new
// model and fingerprint in every answer keeps being judged against the
// operator's baseline: degraded every tick, ttft_degraded alerted once,
// never a recovery, no baseline_reset; identity_unstable warns once the
// identity changed more than 3 times. With --model set and with --model
// empty (the key is then the first id /v1/models lists, which this server
// does not rename). Before, it was "learning 1/3" forever, exit 0, and the
// channels were sent a recovery.
func TestRenamingServerStaysDegraded(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"--model set", []string{"--model", councilsim.DefaultModel}},
		{"--model empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			f.learn(t, tc.args...)
			f.run(t, tc.args...).mustResult(t, resultOK, 0)
			before := f.baseline(t)
			if err := f.sim.SetFault(councilsim.FaultRenameModel); err != nil {
				t.Fatal(err)
			}
			f.setPace(t, councilsim.Pace{TTFT: 4 * usualTTFT, TokenDelay: usualDelay})
			for i := 1; i <= 5; i++ {
				tk := f.run(t, tc.args...)
				ev := tk.mustResult(t, resultDegraded, 1)
				if ev["model"] != councilsim.DefaultModel || !strings.HasPrefix(fmt.Sprint(ev["served_model"]), councilsim.DefaultModel+"-r") {
					t.Errorf("tick %d: model %v, served_model %v: want the key and the server's new name", i, ev["model"], ev["served_model"])
				}
				if r := probetest.Find(tk.events, "baseline_reset", ""); len(r) != 0 {
					t.Fatalf("tick %d: the server's new name reset the baseline: %v", i, r)
				}
				if n := len(probetest.Find(tk.events, "identity_changed", CheckIdentityUnstable)); n == 0 {
					t.Errorf("tick %d: no identity_changed", i)
				}
			}
			if after := f.baseline(t); after.Learned != before.Learned || after.Model != councilsim.DefaultModel {
				t.Errorf("baseline %+v, before %+v: want it kept", after, before)
			}
			for _, a := range f.ff.Alerts() {
				if a.Severity == alert.Info || strings.HasSuffix(a.Title, "recovered") {
					t.Errorf("a recovery was sent while the server stayed slow: %+v", a)
				}
			}
			if n := len(f.ff.AlertsFor(CheckTTFTDegraded)); n != 1 {
				t.Errorf("%d ttft_degraded alerts, want 1 (hysteresis 2, cooldown 1 h)", n)
			}
			if n := len(f.ff.AlertsFor(CheckIdentityUnstable)); n != 1 {
				t.Errorf("%d identity_unstable alerts, want 1: %+v", n, f.ff.Alerts())
			}
			f.finalChecks(t)
		})
	}
}

// TestImplausibleAndBufferedSamples: a usage of two billion tokens is
// implausible (logged with both numbers, neither judged nor learned, exit
// 0); an answer sent in one write has its TTFT judged and its decode not
// (decode_unmeasured says why), and its decode is not learned. Before, the
// first was learned as 2e10 tok/s and the second at 100k tok/s.
func TestImplausibleAndBufferedSamples(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.learn(t)
	before := f.baseline(t)

	if err := f.sim.SetFault(councilsim.FaultUsageLies); err != nil {
		t.Fatal(err)
	}
	tk := f.run(t)
	ev := tk.mustResult(t, resultImplausible, 0)
	if ev["completion_tokens"] != float64(councilsim.UsageLie) || ev["token_events"] != float64(12) || ev["level"] != "warn" {
		t.Errorf("implausible sample %v: want both numbers", ev)
	}
	if _, ok := ev["decode_tps"]; ok {
		t.Errorf("an implausible decode was logged: %v", ev)
	}
	if !strings.Contains(tk.Stdout, "COUNCIL PACE OK - implausible, not judged: ") {
		t.Errorf("status line %q", tk.Stdout)
	}
	if after := f.baseline(t); after.Learned != before.Learned || len(after.Decode) != len(before.Decode) {
		t.Errorf("an implausible sample was learned: %+v, before %+v", after, before)
	}

	if err := f.sim.SetFault(councilsim.FaultBuffered); err != nil {
		t.Fatal(err)
	}
	ev = f.run(t).sample(t)
	if ev["result"] == resultImplausible || ev["result"] == resultBusy || ev["ttft_ratio"] == nil {
		t.Errorf("buffered sample %v: want its TTFT judged", ev)
	}
	if _, ok := ev["decode_tps"]; ok || !strings.Contains(fmt.Sprint(ev["decode_unmeasured"]), "arrived in one read") {
		t.Errorf("buffered sample %v: want no decode, and why", ev)
	}
	if after := f.baseline(t); len(after.Decode) != len(before.Decode) {
		t.Errorf("a buffered decode was learned: %v, before %v", after.Decode, before.Decode)
	}
	if got := f.ff.Alerts(); len(got) != 0 {
		t.Errorf("alerts %+v", got)
	}
	f.finalChecks(t)
}

// TestUnjudgedSamplesWarn: samples taken but not judged (busy, implausible)
// warn on not_judged once --max-unjudged of them come in a row, saying
// why, and the first judged sample recovers it. Before, a server that
// always looked busy was "not judged", exit 0, forever.
func TestUnjudgedSamplesWarn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.args = append(f.args, "--max-unjudged", "3")
	f.learn(t)

	f.sim.SetOtherClients(1)
	f.run(t).mustResult(t, resultBusy, 0)
	f.run(t).mustResult(t, resultBusy, 0)
	f.sim.SetOtherClients(0)
	if err := f.sim.SetFault(councilsim.FaultUsageLies); err != nil {
		t.Fatal(err)
	}
	tk := f.run(t)
	ev := probetest.Find(tk.events, "not_judged", CheckNotJudged)
	if tk.Code != 1 || len(ev) != 1 || ev[0]["level"] != "warn" {
		t.Fatalf("exit %d, not_judged %v: want a warning on the third sample in a row", tk.Code, ev)
	}
	a := f.ff.AlertsFor(CheckNotJudged)
	if len(a) != 1 || !strings.Contains(a[0].Message, "2 busy from the primary's log, 1 implausible token counts") {
		t.Fatalf("not_judged alerts %+v: want one, with the reasons", a)
	}

	if err := f.sim.SetFault(councilsim.FaultNone); err != nil {
		t.Fatal(err)
	}
	f.run(t).mustResult(t, resultOK, 0)
	if a := f.ff.AlertsFor(CheckNotJudged); len(a) != 2 || a[1].Severity != alert.Info {
		t.Errorf("alerts %+v: want the warning, then one recovery", a)
	}
	f.finalChecks(t)
}

// TestDegenerateAnswers: an answer to the request to count that is junk,
// or loops, at full speed warns on degenerate at once, with a sanitised
// excerpt; --no-check-answer turns it off. Before, the answer was thrown
// away and a broken model at normal speed was invisible.
func TestDegenerateAnswers(t *testing.T) {
	for _, fault := range []councilsim.Fault{councilsim.FaultGarbage, councilsim.FaultLoop} {
		t.Run(string(fault), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *councilsim.Config) { c.Fault = fault })
			tk := f.run(t)
			if ev := probetest.Find(tk.events, "pace_degenerate", CheckDegenerate); tk.Code != 1 || len(ev) != 1 {
				t.Fatalf("exit %d, pace_degenerate %v: want a warning at once\n%s", tk.Code, ev, tk.Stdout)
			}
			a := f.ff.AlertsFor(CheckDegenerate)
			if len(a) != 1 || a[0].Severity != alert.Warn {
				t.Fatalf("degenerate alerts %+v", a)
			}
			for _, r := range a[0].Message + tk.Stdout {
				if r != '\n' && unicode.In(r, unicode.Cc, unicode.Cf) {
					t.Errorf("%U reached the alert or the status line: %q", r, a[0].Message)
					break
				}
			}
			if tk := f.run(t, "--no-check-answer"); tk.Code != 0 || len(probetest.Find(tk.events, "pace_degenerate", "")) != 0 {
				t.Errorf("--no-check-answer: exit %d, events %v", tk.Code, tk.events)
			}
			f.finalChecks(t)
		})
	}
}

// TestBaselineReset: --baseline-reset starts the rolling baseline and the
// anchor afresh (baseline_reset, reason operator), and sends no recovery.
func TestBaselineReset(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.args = append(f.args, "--baseline-samples", "4")
	f.learn(t)
	for range 2 {
		f.run(t).mustResult(t, resultOK, 0)
	}
	if b := f.baseline(t); b.Anchor.Judged != 2 || b.Anchor.TTFT <= 0 {
		t.Fatalf("anchor %+v after 2 judged samples", b.Anchor)
	}
	tk := f.run(t, "--baseline-reset")
	ev := tk.mustResult(t, resultLearning, 0)
	if r := probetest.Find(tk.events, "baseline_reset", ""); len(r) != 1 || r[0]["reason"] != "operator" || ev["learned"] != float64(1) {
		t.Fatalf("baseline_reset %v, sample %v", r, ev)
	}
	if b := f.baseline(t); b.Anchor != (anchor{}) || b.Learned != 1 {
		t.Errorf("baseline %+v: want it afresh, anchor too", b)
	}
	if got := f.ff.Alerts(); len(got) != 0 {
		t.Errorf("alerts %+v", got)
	}
}
