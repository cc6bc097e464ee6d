package integration

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/sanctum/council-probes/pkg/core/lock"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
	"github.com/sanctum/council-probes/pkg/testkit/testpki"
)

// The faults, in the order the matrix prints them.
const (
	fHealthy      = "healthy"
	fDown         = "server down"
	fHang         = "chat hangs (/v1/models fine)"
	fHangAll      = "every endpoint hangs"
	fSlow         = "slow first byte"
	f500          = "HTTP 500"
	fHTML         = "HTML 200"
	fWrong        = "wrong answer"
	fSSEStall     = "SSE stall"
	fFFDown       = "Force Flow down"
	fFF500        = "Force Flow 500"
	fFF400        = "Force Flow 400"
	fFFHang       = "Force Flow hangs"
	fCertPartial  = "cert set partial"
	fCertExpired  = "client cert expired"
	fWrongCA      = "wrong CA"
	fTokenMode    = "token world-readable"
	fStateCorrupt = "state file corrupt"
	fDiskFull     = "disk full (log)"
	fConcurrent   = "concurrent tick"
	fSIGTERM      = "SIGTERM mid-tick"
	fEIO          = "bootstrap EIO (fallback)"
	fBinMissing   = "binary missing"
	fBinRebuilt   = "binary rebuilt, not restarted"
	fSigInvalid   = "signature invalid"
	fMetallib     = "metallib missing"

	fFileDrifted     = "deployed file drifted"
	fDeployedMissing = "deployed file missing"
	fRepoDirty       = "repo dirty (uncommitted edit)"
	fAgentNotLoaded  = "agent not loaded"
	fFallbackRace    = "fallback enabled in launchd"
	fProbeStale      = "watched probe silent"
	fManagerDown     = "service manager cannot be asked"
)

var faultOrder = []string{
	fHealthy, fDown, fHang, fHangAll, fSlow, f500, fHTML, fWrong, fSSEStall,
	fFFDown, fFF500, fFF400, fFFHang,
	fCertPartial, fCertExpired, fWrongCA, fTokenMode,
	fStateCorrupt, fDiskFull, fConcurrent, fSIGTERM, fEIO,
	fBinMissing, fBinRebuilt, fSigInvalid, fMetallib,
	fFileDrifted, fDeployedMissing, fRepoDirty, fAgentNotLoaded, fFallbackRace, fProbeStale, fManagerDown,
}

// fate is what must have happened to a cell's alert.
type fate int

const (
	noAlert   fate = iota // nothing delivered, nothing spooled
	delivered             // Force Flow received it
	spooled               // it waits in the outbox (and is delivered later, where the cell checks that)
	rejected              // Force Flow answered 4xx: logged, not retried
)

func (f fate) String() string {
	return [...]string{"no alert", "delivered", "spooled", "rejected (logged)"}[f]
}

// want is what a cell asserts after its last tick.
type want struct {
	code         int
	event, check string // an event the probe must have logged ("" = none required)
	alert        fate
	alertCheck   string // the alert's channel; default check
	stderr       string // a substring stderr must contain
	// then makes further assertions (and may run more ticks).
	then func(t *testing.T, w *world)
}

// cell is one probe x one fault.
type cell struct {
	fault string
	// home adjusts the home before the simulator starts.
	home func(h *probetest.Home)
	// sim adjusts the simulator's configuration.
	sim func(*councilsim.Config)
	// setup runs once the world is laid out, before the first tick.
	setup func(t *testing.T, w *world)
	// args are added after the probe's own (later flags win).
	args  []string
	ticks int // ticks to run; the assertions see the last (default 1)
	// last runs the last tick instead of an ordinary one (SIGTERM).
	last func(w *world) probetest.Result
	want want
	note string // what the cell shows, for the matrix legend
}

func fault(f councilsim.Fault) func(*councilsim.Config) {
	return func(c *councilsim.Config) { c.Fault = f }
}

// trigger is a fault that makes a probe alert, for the cells that are about
// what happens to an alert (Force Flow faults, a full disk).
type trigger struct {
	sim   func(*councilsim.Config)
	setup func(t *testing.T, w *world)
	ticks int
	code  int
	event string
	check string
	// heal undoes the fault, for the tick that proves a spooled alert is
	// delivered later.
	heal func(t *testing.T, w *world)
}

// alertCells are the cells about the alert path, the same for every probe:
// Force Flow down, 500, 400 or hanging, and a log that cannot be written.
func alertCells(tr trigger) []cell {
	c := func(f string, mode string, fate fate, recover bool) cell {
		x := cell{fault: f, sim: tr.sim, ticks: tr.ticks,
			setup: func(t *testing.T, w *world) {
				if tr.setup != nil {
					tr.setup(t, w)
				}
				if mode == "down" {
					w.ff.Close()
				} else {
					w.ff.SetMode(mode)
				}
			},
			args: []string{"--alert-budget", "2s"},
			want: want{code: tr.code, event: tr.event, check: tr.check, alert: fate},
		}
		if recover {
			x.want.then = func(t *testing.T, w *world) {
				// Never lost: with Force Flow back and the fault gone,
				// the next tick delivers what was spooled.
				w.ff.SetMode("up")
				tr.heal(t, w)
				w.tick()
				if !deliveredFor(w, tr.check) {
					t.Errorf("the spooled %s alert was not delivered once Force Flow came back; got %+v", tr.check, w.ff.Alerts())
				}
				if n := len(w.outbox()); n != 0 {
					t.Errorf("outbox still holds %d notices after delivery", n)
				}
			}
		}
		return x
	}
	rej := c(fFF400, "400", rejected, false)
	rej.want.event, rej.want.check = "alert_rejected", tr.check
	full := cell{fault: fDiskFull, sim: tr.sim, ticks: tr.ticks,
		setup: func(t *testing.T, w *world) {
			if tr.setup != nil {
				tr.setup(t, w)
			}
			w.limitFileSize()
		},
		want: want{code: tr.code, alert: delivered, alertCheck: tr.check, stderr: "event log"},
		note: "the log cannot be written; the alert still goes out and stderr says why",
	}
	return []cell{
		c(fFFDown, "down", spooled, false),
		c(fFF500, "500", spooled, true),
		rej,
		c(fFFHang, "hang", spooled, true),
		full,
	}
}

// commonCells apply to every probe: a corrupt state file, a concurrent tick.
func commonCells(healthyEvent, healthyCheck string) []cell {
	return []cell{
		{fault: fHealthy, want: want{code: 0, event: healthyEvent, check: healthyCheck}},
		{fault: fStateCorrupt,
			setup: func(t *testing.T, w *world) {
				if err := os.WriteFile(w.stateFile(), []byte(`{"channels": {"unreach`), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: want{code: 0, event: "state_reset"}},
		{fault: fConcurrent,
			setup: func(t *testing.T, w *world) {
				// The flock a running tick holds on its lock file.
				l, err := lock.TryLock(w.lockFile())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Release() })
			},
			want: want{code: 3, event: "skipped_overlap"}},
	}
}

// networkCells apply to the probes that talk to the council: the transport
// faults and SIGTERM while a request hangs. fail is how the probe fails when
// the server cannot be reached (for the wrong CA), timeoutArgs raise its
// timeouts so the SIGTERM lands first.
func networkCells(client string, fail trigger, timeoutArgs ...string) []cell {
	certs := func(h *probetest.Home) { h.WithCerts(client) }
	clientFile := func(w *world, ext string) string {
		return filepath.Join(testpki.CertsDir(w.home.Dir), "clients", client+ext)
	}
	return []cell{
		{fault: fCertPartial, home: certs,
			setup: func(t *testing.T, w *world) { os.Remove(clientFile(w, ".key")) },
			want:  want{code: 3, event: "transport_error", check: "transport", alert: delivered}},
		{fault: fCertExpired, home: certs,
			setup: func(t *testing.T, w *world) {
				now := time.Now()
				crt, key, err := w.home.CA.Issue(testpki.IssueOpts{CommonName: client, Client: true,
					NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(clientFile(w, ".crt"), crt, 0o644)
				os.WriteFile(clientFile(w, ".key"), key, 0o600)
			},
			want: want{code: 2, event: "cert_expired", check: "cert_expiry", alert: delivered}},
		{fault: fWrongCA, home: certs, ticks: fail.ticks,
			setup: func(t *testing.T, w *world) {
				// The simulator already trusts the real CA; the probe now
				// trusts another one, so the server's cert fails to verify.
				other, err := testpki.NewCA("some other CA")
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(testpki.CertsDir(w.home.Dir), "ca.crt"), other.CertPEM, 0o644)
			},
			want: want{code: fail.code, event: fail.event, check: fail.check, alert: delivered}},
		{fault: fTokenMode,
			home: func(h *probetest.Home) { h.WithToken(0o644) },
			want: want{code: 3, event: "transport_error", check: "transport", alert: delivered}},
		sigtermCell(timeoutArgs...),
	}
}

func sigtermCell(timeoutArgs ...string) cell {
	var accepted <-chan struct{}
	return cell{fault: fSIGTERM,
		setup: func(t *testing.T, w *world) {
			var url string
			url, accepted = hangServer(t)
			w.args = append(w.args, append([]string{"--url", url}, timeoutArgs...)...)
		},
		last: func(w *world) probetest.Result { return w.sigtermTick(accepted) },
		want: want{code: 3, event: "tick_cancelled",
			then: func(t *testing.T, w *world) {
				if len(probetest.Find(w.events(), "tick_done", "")) != 1 {
					t.Errorf("a cancelled tick must still finish (tick_done):\n%s", dumpEvents(w.events()))
				}
			}},
		note: "a tick cancelled inside a hung request ends at once, UNKNOWN, and decides nothing",
	}
}

// results records each cell's outcome for the printed matrix.
var results struct {
	sync.Mutex
	m map[[2]string]string
}

func record(probe, fault, outcome string) {
	results.Lock()
	defer results.Unlock()
	if results.m == nil {
		results.m = map[[2]string]string{}
	}
	results.m[[2]string{probe, fault}] = outcome
}

// TestFaultMatrix runs every applicable probe x fault cell against the real
// binaries, in parallel, each in its own home.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix runs the real binaries; skipped in -short mode")
	}
	for _, p := range probes {
		cells := p.allCells()
		seen := map[string]bool{}
		for _, c := range cells {
			if seen[c.fault] {
				t.Fatalf("%s: two cells for %q", p.col(), c.fault)
			}
			seen[c.fault] = true
		}
		for _, c := range cells {
			p, c := p, c
			t.Run(p.col()+"/"+c.fault, func(t *testing.T) {
				bin, ok := bins[p.binary]
				if !ok {
					// Every probe has landed: a missing binary is a
					// broken build or a moved package, never a pass by
					// omission. (A skip stays a skip only where this
					// machine cannot do something, with its reason.)
					record(p.col(), c.fault, "FAIL")
					t.Fatalf("%s was not built (no main package in %s)", p.binary, p.cmdDir)
				}
				t.Parallel()
				t.Cleanup(func() {
					switch {
					case t.Failed():
						record(p.col(), c.fault, "FAIL")
					case t.Skipped():
						record(p.col(), c.fault, "SKIP")
					default:
						record(p.col(), c.fault, "PASS")
					}
				})
				runCell(t, p.probeRig, bin, c)
			})
		}
	}
}

func runCell(t *testing.T, rig probeRig, bin string, c cell) {
	h := probetest.NewHome(t).WithToken(0o600)
	if c.home != nil {
		c.home(h)
	}
	w := &world{t: t, rig: rig, bin: bin, home: h, ff: probetest.NewForceFlow(t), ld: probetest.NewLaunchd(t, launchctlBin)}
	if rig.systemd {
		w.sd = probetest.NewSystemd(t, systemctlBin, journalctlBin)
	}
	if rig.network {
		w.sim = h.Sim(func(cfg *councilsim.Config) {
			if rig.simConfig != nil {
				rig.simConfig(cfg)
			}
			if c.sim != nil {
				c.sim(cfg)
			}
		})
		w.args = append(w.args, "--url", w.sim.PlainURL())
		if u := w.sim.MTLSURL(); u != "" {
			w.args = append(w.args, "--mtls-url", u)
		}
	}
	w.args = append(w.args, rig.prepare(w)...)
	w.args = append(w.args, c.args...)
	if c.setup != nil {
		c.setup(t, w)
	}
	ticks := max(c.ticks, 1)
	var res probetest.Result
	for i := 0; i < ticks; i++ {
		if i == ticks-1 && c.last != nil {
			res = c.last(w)
		} else {
			res = w.tick()
		}
	}
	evs := w.events()
	detail := func() string {
		return fmt.Sprintf("\nexit %d\nstdout: %s\nstderr: %s\nevents:\n%s", res.Code, res.Stdout, res.Stderr, dumpEvents(evs))
	}
	wt := c.want
	if res.Code != wt.code {
		t.Errorf("exit %d, want %d%s", res.Code, wt.code, detail())
	}
	if wt.event != "" && len(findEvents(evs, wt.event, wt.check)) == 0 {
		t.Errorf("no %s event (check %q)%s", wt.event, wt.check, detail())
	}
	if wt.stderr != "" && !strings.Contains(res.Stderr, wt.stderr) {
		t.Errorf("stderr lacks %q%s", wt.stderr, detail())
	}
	ac := wt.alertCheck
	if ac == "" {
		ac = wt.check
	}
	switch wt.alert {
	case noAlert:
		if a := w.ff.Alerts(); len(a) != 0 {
			t.Errorf("a run that must not alert delivered %+v%s", a, detail())
		}
		if ob := w.outbox(); len(ob) != 0 {
			t.Errorf("a run that must not alert spooled %+v%s", ob, detail())
		}
	case delivered:
		if !deliveredFor(w, ac) {
			t.Errorf("no %s alert reached Force Flow; it got %+v%s", ac, w.ff.Alerts(), detail())
		}
	case spooled:
		if spooledFor(w.outbox(), ac) == 0 {
			t.Errorf("no %s alert in the outbox %s; it holds %+v%s", ac, w.outboxFile(), w.outbox(), detail())
		}
	case rejected:
		if n := spooledFor(w.outbox(), ac); n != 0 {
			t.Errorf("a 4xx answer must not be retried, but %d %s notices are spooled%s", n, ac, detail())
		}
	}
	if wt.then != nil && !t.Failed() {
		wt.then(t, w)
	}
	if l := w.leaks(); len(l) > 0 {
		t.Errorf("the planted token leaked into %v", l)
	}
	if testing.Verbose() {
		calls := w.ld.MutatingCalls()
		if w.sd != nil {
			calls = w.sd.MutatingCalls()
		}
		t.Logf("%s: exit %d; events %s; alerts %s; outbox %d; manager %q", t.Name(), res.Code, eventSummary(w.events()), alertSummary(w), len(w.outbox()), calls)
	}
}

// eventSummary lists event[check] names, for the verbose log of a cell.
func eventSummary(evs []map[string]any) string {
	var s []string
	for _, e := range evs {
		name, _ := e["event"].(string)
		if c, ok := e["check"].(string); ok && c != "" {
			name += "[" + c + "]"
		}
		if name != "prefill" {
			s = append(s, name)
		}
	}
	return strings.Join(s, " ")
}

func alertSummary(w *world) string {
	var s []string
	for _, a := range w.ff.Alerts() {
		s = append(s, string(a.Severity)+" "+a.Title)
	}
	return "[" + strings.Join(s, "; ") + "]"
}

// matchCheck matches a check name against a cell's pattern: the name
// itself, or a prefix ending in "*" for checks with a subject (drift's
// "drifted:<path>").
func matchCheck(pattern, check string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(check, p)
	}
	return pattern == check
}

// findEvents returns the events named event whose check matches pattern
// ("" matches any).
func findEvents(evs []map[string]any, event, pattern string) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		c, _ := e["check"].(string)
		if e["event"] == event && (pattern == "" || matchCheck(pattern, c)) {
			out = append(out, e)
		}
	}
	return out
}

// deliveredFor reports whether Force Flow received a failing (not a
// "recovered") alert on check.
func deliveredFor(w *world, check string) bool {
	for _, a := range w.ff.Alerts() {
		_, ch, _ := strings.Cut(a.Title, ": ")
		if !strings.HasSuffix(ch, " recovered") && matchCheck(check, ch) {
			return true
		}
	}
	return false
}

// printMatrix prints the outcome of every cell, faults down, probes across,
// then the totals alone on the last line.
func printMatrix(out io.Writer) {
	results.Lock()
	defer results.Unlock()
	if len(results.m) == 0 {
		return
	}
	applies := map[[2]string]bool{}
	for _, p := range probes {
		for _, c := range p.allCells() {
			applies[[2]string{p.col(), c.fault}] = true
		}
	}
	renderMatrix(out, results.m, applies)
}

// renderMatrix prints outcomes (probe, fault -> PASS/FAIL/SKIP) for the
// applicable cells.
func renderMatrix(out io.Writer, outcomes map[[2]string]string, applies map[[2]string]bool) {
	fmt.Fprintln(out, "\nFAULT MATRIX (probe x fault)")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "fault \\ probe")
	for _, p := range probes {
		fmt.Fprintf(tw, "\t%s", p.col())
	}
	fmt.Fprintln(tw)
	passed, failed, skipped := 0, 0, 0
	for _, f := range allFaults() {
		fmt.Fprint(tw, f)
		for _, p := range probes {
			o, ok := outcomes[[2]string{p.col(), f}]
			switch {
			case !applies[[2]string{p.col(), f}]:
				o = "-"
			case !ok:
				o = "not run"
			}
			switch o {
			case "PASS":
				passed++
			case "FAIL":
				failed++
			case "SKIP":
				skipped++
			}
			fmt.Fprintf(tw, "\t%s", o)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(out, "(- = not applicable to that probe; SKIP (%d) = this machine cannot run it, reason in the test log; a probe that was not built FAILs)\n", skipped)
	fmt.Fprintf(out, "%d passed, %d failed\n", passed, failed)
}

// lookPath is exec.LookPath that skips the test when the tool is absent.
func lookPath(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}
