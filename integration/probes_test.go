package integration

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/host/signing"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// matrixProbe is one probe with its cells: the applicable faults, listed
// explicitly. A fault missing from a probe's list is not applicable to it
// and prints as "-".
type matrixProbe struct {
	probeRig
	cells func() []cell
}

// probes is the matrix, in print order.
var probes = []matrixProbe{
	{guardianRig, guardianCells},
	{canaryRig, canaryCells},
	{parityRig, parityCells},
	{integrityRig, integrityCells},
	{driftRig, driftCells},
	{paceRig, paceCells},
	{contextRig, contextCells},
	// The probes that ask the service manager, under the simulated
	// systemd: their cells are registered (systemd_test.go).
	{guardianSystemdRig, noCells},
	{integritySystemdRig, noCells},
	{driftSystemdRig, noCells},
}

func noCells() []cell { return nil }

func ok(event, check string) want { return want{code: 0, event: event, check: check} }

func failing(code int, event, check string) want {
	return want{code: code, event: event, check: check, alert: delivered}
}

func heal(t *testing.T, w *world) {
	if err := w.sim.SetFault(councilsim.FaultNone); err != nil {
		t.Fatal(err)
	}
}

// slow delays the first byte past every probe's limit in this matrix (2 s):
// generous limits keep a loaded CI machine from failing a healthy cell.
func slow(c *councilsim.Config) { c.Fault, c.SlowDelay = councilsim.FaultSlow, 4*time.Second }

// --- guardian ---------------------------------------------------------------

var guardianRig = probeRig{
	name: "guardian", binary: "council-guardian", cmdDir: "probes/guardian/cmd/council-guardian", network: true,
	prepare: func(w *world) []string {
		// An executable primary binary and an empty log, so a failure
		// escalates to a restart (not a promotion) unless a cell says so.
		return []string{"--primary-binary", simBin, "--primary-log", filepath.Join(w.home.LogDir, "sanctum-mlx.log"),
			"--timeout", "2s", "--verify-timeout", "2s", "--verify-interval", "100ms"}
	},
}

// guardianDown: three failed ticks alert on unreachable and attempt a
// restart.
var guardianDown = trigger{sim: fault(councilsim.FaultDown), ticks: 3, code: 2, event: "probe_fail", check: "unreachable", heal: heal}

func restartAttempted(t *testing.T, w *world) {
	if len(probetest.Find(w.events(), "restarting", "unreachable")) == 0 {
		t.Errorf("three failures did not escalate to a restart:\n%s", dumpEvents(w.events()))
	}
	if !hasCall(w.ld.Calls(), "kickstart -k") {
		t.Errorf("no kickstart -k among the launchctl calls %q", w.ld.Calls())
	}
}

func guardianCells() []cell {
	blind := "blind by design: /v1/models still answers; the canary owns this fault"
	cells := append(commonCells("probe_ok", "unreachable"),
		cell{fault: fDown, sim: fault(councilsim.FaultDown), ticks: 3,
			want: want{code: 2, event: "probe_fail", check: "unreachable", alert: delivered, then: restartAttempted},
			note: "alerts after 3 failed ticks and restarts (kickstart -k); the unverified restart alerts on restart_unverified"},
		cell{fault: fHang, sim: fault(councilsim.FaultHang), want: ok("probe_ok", "unreachable"), note: blind},
		cell{fault: fHangAll, sim: fault(councilsim.FaultHangAll), ticks: 3, want: failing(2, "probe_fail", "unreachable")},
		cell{fault: fSlow, sim: slow, want: ok("probe_ok", "unreachable"), note: blind},
		cell{fault: f500, sim: fault(councilsim.Fault500), ticks: 3, want: failing(2, "probe_fail", "unreachable")},
		cell{fault: fHTML, sim: fault(councilsim.FaultHTML), ticks: 3, want: failing(2, "probe_fail", "unreachable")},
		cell{fault: fWrong, sim: fault(councilsim.FaultWrong), want: ok("probe_ok", "unreachable"), note: blind},
		cell{fault: fSSEStall, sim: fault(councilsim.FaultSSEStall), want: ok("probe_ok", "unreachable"), note: blind},
		guardianEIO(),
	)
	cells = append(cells, alertCells(guardianDown)...)
	return append(cells, networkCells("guardian", guardianDown, "--timeout", "30s")...)
}

// guardianEIO: the primary's binary is gone and it does not serve, so the
// guardian promotes the fallback; the fallback label is still loaded, so
// the first bootstrap fails with 5: Input/output error (the incident) and
// the recipe must boot it out and retry.
func guardianEIO() cell {
	var fb fallback
	return cell{fault: fEIO, sim: fault(councilsim.FaultDown),
		setup: func(t *testing.T, w *world) {
			fb = w.writeFallback()
			w.launchctl("bootstrap", domain(), fb.Plist)
			w.args = append(w.args, "--primary-binary", filepath.Join(w.home.Dir, "gone", "sanctum-mlx"),
				"--restart-after", "1", "--fallback-url", fb.URL, "--verify-timeout", "20s")
		},
		want: want{code: 2, event: "fallback_activated", check: "fallback_activated", alert: delivered,
			then: func(t *testing.T, w *world) { eioRecovered(t, w) }},
		note: "promotes the fallback through the EIO recovery (bootout, bootstrap again), verifies it serves, writes the fallback lock",
	}
}

// eioRecovered asserts that the fallback was bootstrapped twice (EIO, then
// the retry after bootout) and that the fallback lock exists.
func eioRecovered(t *testing.T, w *world) {
	calls := w.ld.Calls()
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, "bootstrap ") && strings.Contains(c, fallbackLabel) {
			n++
		}
	}
	if n < 3 { // the cell's own, the EIO one, the retry
		t.Errorf("want the EIO bootstrap and its retry; launchctl calls:\n  %s", strings.Join(calls, "\n  "))
	}
	if _, err := launchctl.ReadFallbackLock(filepath.Join(w.home.StateDir, "council-fallback.lock")); err != nil {
		t.Errorf("fallback lock: %v", err)
	}
	promotionCalls(t, w, true)
}

// promotionCalls asserts the promotion's launchctl sequence, from the
// primary's bootout to the end of the tick: the primary is disabled as well
// as booted out (login bootstraps every plist in ~/Library/LaunchAgents, and
// a primary only booted out starts again beside the fallback), then the
// fallback is enabled, bootstrapped (eio: with the bootout-and-retry) and
// kickstarted.
func promotionCalls(t *testing.T, w *world, eio bool) {
	t.Helper()
	svc := func(label string) string { return domain() + "/" + label }
	plist := filepath.Join(w.launchAgents(), fallbackLabel+".plist")
	want := []string{
		"bootout " + svc(primaryLabel),
		"disable " + svc(primaryLabel),
		"enable " + svc(fallbackLabel),
		"bootstrap " + domain() + " " + plist,
	}
	if eio {
		want = append(want, "bootout "+svc(fallbackLabel), "bootstrap "+domain()+" "+plist)
	}
	want = append(want, "kickstart -k "+svc(fallbackLabel))
	calls := w.ld.MutatingCalls()
	i := slices.Index(calls, want[0])
	if i < 0 || !slices.Equal(calls[i:], want) {
		t.Errorf("promotion's launchctl calls:\n  got  %q\n  want %q (from the primary's bootout)", calls, want)
	}
}

// onlyManagerUnknown asserts that a manager that cannot be asked is the one
// failing channel: nothing that needed it was judged.
func onlyManagerUnknown(t *testing.T, w *world) {
	t.Helper()
	for _, a := range w.ff.Alerts() {
		if !strings.HasSuffix(a.Title, ": service_manager") {
			t.Errorf("an alert besides service_manager: %s: %s", a.Title, a.Message)
		}
	}
	if len(findEvents(w.events(), "not_judged", "")) == 0 {
		t.Errorf("no not_judged events:\n%s", dumpEvents(w.events()))
	}
}

func hasCall(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

// --- canary -----------------------------------------------------------------

var canaryRig = probeRig{
	name: "canary", binary: "council-canary", cmdDir: "probes/canary/cmd/council-canary", network: true,
	prepare: func(w *world) []string {
		return []string{"--deadline", "4s", "--ttfb-timeout", "2s", "--stall-timeout", "2s"}
	},
}

var canaryDown = trigger{sim: fault(councilsim.FaultDown), ticks: 2, code: 2, event: "canary_fail", check: "unreachable", heal: heal}

func canaryCells() []cell {
	f := func(name string, sim func(*councilsim.Config), check string, args ...string) cell {
		return cell{fault: name, sim: sim, ticks: 2, args: args, want: failing(2, "canary_fail", check)}
	}
	cells := append(commonCells("canary_ok", "wrong_answer"),
		f(fDown, fault(councilsim.FaultDown), "unreachable"),
		f(fHang, fault(councilsim.FaultHang), "hang"),
		f(fHangAll, fault(councilsim.FaultHangAll), "hang"),
		f(fSlow, slow, "hang"),
		f(f500, fault(councilsim.Fault500), "http_error"),
		f(fHTML, fault(councilsim.FaultHTML), "bad_response"),
		f(fWrong, fault(councilsim.FaultWrong), "wrong_answer"),
		f(fSSEStall, fault(councilsim.FaultSSEStall), "stream_stall", "--stream"),
	)
	wrong := trigger{sim: fault(councilsim.FaultWrong), ticks: 2, code: 2, event: "canary_fail", check: "wrong_answer", heal: heal}
	cells = append(cells, alertCells(wrong)...)
	return append(cells, networkCells("canary", canaryDown, "--deadline", "30s", "--ttfb-timeout", "30s")...)
}

// --- parity-smoke -----------------------------------------------------------

// parityPrompts is a small golden set the simulator answers correctly.
const parityPrompts = `{
  "version": 1,
  "prompts": [
    {"id": "arith", "prompt": "What is 2+2? Respond with only the number.", "max_tokens": 8, "expect": ["4"]},
    {"id": "capital", "prompt": "What is the capital of France? Answer in one word.", "max_tokens": 8, "expect": ["Paris"]}
  ]
}
`

var parityRig = probeRig{
	name: "parity-smoke", binary: "council-parity-smoke", cmdDir: "probes/paritysmoke/cmd/council-parity-smoke", network: true,
	simConfig: func(c *councilsim.Config) { c.Answers = map[string]string{"capital of France": "Paris"} },
	prepare: func(w *world) []string {
		p := filepath.Join(w.home.Dir, "prompts.json")
		if err := os.WriteFile(p, []byte(parityPrompts), 0o644); err != nil {
			w.t.Fatal(err)
		}
		return []string{"--prompts", p, "--prompt-timeout", "2s", "--max-failures", "0", "--table", "never"}
	},
}

func parityCells() []cell {
	f := func(name string, sim func(*councilsim.Config)) cell {
		return cell{fault: name, sim: sim, want: failing(2, "parity_fail", "parity")}
	}
	fail := trigger{sim: fault(councilsim.FaultWrong), ticks: 1, code: 2, event: "parity_fail", check: "parity", heal: heal}
	cells := append(commonCells("parity_ok", "parity"),
		f(fDown, fault(councilsim.FaultDown)),
		f(fHang, fault(councilsim.FaultHang)),
		f(fHangAll, fault(councilsim.FaultHangAll)),
		f(fSlow, slow),
		f(f500, fault(councilsim.Fault500)),
		f(fHTML, fault(councilsim.FaultHTML)),
		f(fWrong, fault(councilsim.FaultWrong)),
		cell{fault: fSSEStall, sim: fault(councilsim.FaultSSEStall), want: ok("parity_ok", "parity"),
			note: "parity asks without streaming, so a stalled stream is not its fault to see"},
	)
	cells = append(cells, alertCells(fail)...)
	down := trigger{ticks: 1, code: 2, event: "parity_fail", check: "parity"}
	return append(cells, networkCells("parity-smoke", down, "--prompt-timeout", "30s")...)
}

// --- integrity --------------------------------------------------------------

// integrityHost is a primary the integrity probe can check: an executable
// (a copy of sleep(1)) that is running, signed with ed25519, with its
// metallib beside it.
type integrityHost struct {
	Binary, Metallib, Priv, Pub, PIDFile string
}

func primaryOf(w *world) integrityHost {
	dir := filepath.Join(w.home.Dir, "sanctum", "bin")
	return integrityHost{Binary: filepath.Join(dir, "sanctum-mlx"), Metallib: filepath.Join(dir, "mlx.metallib"),
		Priv: filepath.Join(w.home.Dir, "keys", "release.key"), Pub: filepath.Join(w.home.Dir, "keys", "release.pub"),
		PIDFile: filepath.Join(w.home.Dir, "sanctum-mlx.pid")}
}

var integrityRig = probeRig{
	name: "integrity", binary: "council-integrity", cmdDir: "probes/integrity/cmd/council-integrity",
	prepare: func(w *world) []string {
		t := w.t
		sleep := lookPath(t, "sleep")
		h := primaryOf(w)
		for _, d := range []string{filepath.Dir(h.Binary), filepath.Dir(h.Priv)} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		installBinary(t, sleep, h)
		if err := os.WriteFile(h.Metallib, []byte("metal library stand-in"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := signing.GenerateKey(h.Priv, h.Pub); err != nil {
			t.Fatal(err)
		}
		if _, err := signing.SignFile(h.Priv, h.Binary); err != nil {
			t.Fatal(err)
		}
		// The running primary: the binary itself, so its inode matches.
		cmd := exec.Command(h.Binary, "3600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		if err := os.WriteFile(h.PIDFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{"--primary-binary", h.Binary, "--signing-pubkey", h.Pub,
			"--pid-source", "pid-file", "--pid-file", h.PIDFile, "--fallback-url", "", "--verify-timeout", "20s"}
	},
}

// installBinary copies src to the primary's path through a rename, so the
// path gets a new inode the way a rebuild does.
func installBinary(t *testing.T, src string, h integrityHost) {
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := h.Binary + ".new"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, h.Binary); err != nil {
		t.Fatal(err)
	}
}

// promoted asserts the fallback was activated and verified.
func promoted(t *testing.T, w *world) {
	if len(probetest.Find(w.events(), "fallback_activated", "fallback_activated")) == 0 {
		t.Errorf("the fallback was not activated:\n%s", dumpEvents(w.events()))
	}
	if !deliveredFor(w, "fallback_activated") {
		t.Errorf("no fallback alert reached Force Flow: %+v", w.ff.Alerts())
	}
}

// promotedOnce is promoted plus the promotion's exact launchctl sequence.
func promotedOnce(t *testing.T, w *world) {
	promoted(t, w)
	promotionCalls(t, w, false)
}

func integrityCells() []cell {
	useFallback := func(t *testing.T, w *world, preload bool) {
		fb := w.writeFallback()
		if preload {
			w.launchctl("bootstrap", domain(), fb.Plist)
		}
		w.args = append(w.args, "--fallback-url", fb.URL)
	}
	rmMetallib := func(t *testing.T, w *world) { os.Remove(primaryOf(w).Metallib) }
	cells := append(commonCells("check_ok", "binary_missing"),
		cell{fault: fBinMissing,
			setup: func(t *testing.T, w *world) { os.Remove(primaryOf(w).Binary); useFallback(t, w, false) },
			want:  want{code: 2, event: "check_failed", check: "binary_missing", alert: delivered, then: promotedOnce},
			note:  "promotes the fallback (the next respawn would fail; bootout and disable the primary), verified serving"},
		cell{fault: fEIO,
			setup: func(t *testing.T, w *world) { os.Remove(primaryOf(w).Binary); useFallback(t, w, true) },
			want: want{code: 2, event: "check_failed", check: "binary_missing", alert: delivered,
				then: func(t *testing.T, w *world) { promoted(t, w); eioRecovered(t, w) }}},
		cell{fault: fBinRebuilt,
			setup: func(t *testing.T, w *world) {
				h := primaryOf(w)
				installBinary(t, lookPath(t, "sleep"), h)
				if _, err := signing.SignFile(h.Priv, h.Binary); err != nil {
					t.Fatal(err)
				}
			},
			want: failing(2, "check_failed", "stale_process"),
			note: "rebuilt but not restarted: the running inode differs; alert only"},
		cell{fault: fSigInvalid,
			setup: func(t *testing.T, w *world) {
				other := filepath.Join(w.home.Dir, "keys", "other")
				if _, err := signing.GenerateKey(other+".key", other+".pub"); err != nil {
					t.Fatal(err)
				}
				if _, err := signing.SignFile(other+".key", primaryOf(w).Binary); err != nil {
					t.Fatal(err)
				}
				useFallback(t, w, false)
			},
			want: want{code: 2, event: "check_failed", check: "signature_invalid", alert: delivered, then: promoted}},
		cell{fault: fMetallib, setup: rmMetallib, want: failing(2, "check_failed", "metallib_missing")},
		integritySigterm(),
	)
	metallib := trigger{setup: rmMetallib, ticks: 1, code: 2, event: "check_failed", check: "metallib_missing",
		heal: func(t *testing.T, w *world) {
			if err := os.WriteFile(primaryOf(w).Metallib, []byte("metal library stand-in"), 0o644); err != nil {
				t.Fatal(err)
			}
		}}
	return append(cells, alertCells(metallib)...)
}

// --- drift ------------------------------------------------------------------

// driftHost is what the drift probe compares: a git repository with one
// committed file, its deployed copy, and the map between them.
type driftHost struct {
	Repo, Canonical, Deployed, Map string
}

func driftOf(w *world) driftHost {
	repo := filepath.Join(w.home.Dir, "sanctum-rs")
	return driftHost{Repo: repo, Canonical: filepath.Join(repo, "deploy", "app.conf"),
		Deployed: filepath.Join(w.home.Dir, "deployed", "app.conf"), Map: filepath.Join(w.home.Dir, ".sanctum", "council-drift.map")}
}

const driftContent = "threads = 8\nport = 1337\n"

// primaryLabel is the agent the drift cells expect loaded.
const primaryLabel = "com.sanctum.mlx"

var driftRig = probeRig{
	name: "drift", binary: "council-drift", cmdDir: "probes/drift/cmd/council-drift",
	prepare: func(w *world) []string {
		args := w.prepareDriftRepo()
		// The fallback as it must be: RunAtLoad=false, Disabled=true, and
		// disabled in launchd's override database.
		w.writeFallback()
		w.launchctl("disable", domain()+"/"+fallbackLabel)
		// The expected agent, loaded (not running: drift checks loaded).
		w.writeAgent(primaryLabel)
		w.launchctl("bootstrap", domain(), filepath.Join(w.launchAgents(), primaryLabel+".plist"))
		return append(args, "--expect-agent", primaryLabel)
	},
}

// prepareDriftRepo lays out what drift compares (a repository with one
// committed file, its deployed copy, the map) and a watched probe that
// ticked just now, and returns drift's arguments for them.
func (w *world) prepareDriftRepo() []string {
	t := w.t
	git := lookPath(t, "git")
	d := driftOf(w)
	for _, dir := range []string{filepath.Dir(d.Canonical), filepath.Dir(d.Deployed)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{d.Canonical, d.Deployed} {
		if err := os.WriteFile(f, []byte(driftContent), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "deploy/app.conf"},
		{"-c", "user.name=matrix", "-c", "user.email=matrix@example.invalid", "commit", "-q", "-m", "canonical"}} {
		cmd := exec.Command(git, args...)
		cmd.Dir, cmd.Env = d.Repo, w.home.Env()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(d.Map, []byte("~/deployed/app.conf = deploy/app.conf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.freshTick("guardian", 30*time.Second)
	// Drift asks the server only who it is; these cells are about its
	// files and the service manager, so the server is a port nobody
	// listens on.
	return []string{"--map", d.Map, "--repo", d.Repo, "--watch-probe", "guardian=30s", "--timeout", "10s",
		"--url", fmt.Sprintf("http://127.0.0.1:%d", probetest.FreePort(t))}
}

// writeAgent writes a plist for label whose program is sleep(1), not run
// at load.
func (w *world) writeAgent(label string) {
	w.t.Helper()
	body := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key><string>` + label + `</string>
	<key>ProgramArguments</key><array><string>` + lookPath(w.t, "sleep") + `</string><string>3600</string></array>
	<key>RunAtLoad</key><false/>
</dict>
</plist>
`
	if err := os.MkdirAll(w.launchAgents(), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.launchAgents(), label+".plist"), []byte(body), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// freshTick writes probe's state file as a tick that completed at.
func (w *world) freshTickAt(probe string, interval time.Duration, at time.Time) {
	w.t.Helper()
	f := state.New(probe)
	f.LastTick, f.IntervalSeconds = at, int(interval/time.Second)
	if err := f.Save(w.home.StateFile(probe)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) freshTick(probe string, interval time.Duration) {
	w.freshTickAt(probe, interval, time.Now())
}

func driftCells() []cell {
	deployed := func(w *world) string { return driftOf(w).Deployed }
	driftFile := func(t *testing.T, w *world) {
		if err := os.WriteFile(deployed(w), []byte(driftContent+"threads = 64\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	restore := func(t *testing.T, w *world) {
		if err := os.WriteFile(deployed(w), []byte(driftContent), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cells := append(commonCells("deploy_matches", "drifted:*"),
		cell{fault: fFileDrifted, setup: driftFile, want: failing(2, "drifted", "drifted:*")},
		cell{fault: fDeployedMissing, setup: func(t *testing.T, w *world) { os.Remove(deployed(w)) },
			want: failing(2, "deployed_missing", "deployed_missing:*")},
		cell{fault: fRepoDirty,
			setup: func(t *testing.T, w *world) {
				if err := os.WriteFile(driftOf(w).Canonical, []byte(driftContent+"# work in progress\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: want{code: 0, event: "repo_dirty", check: "repo_dirty",
				then: func(t *testing.T, w *world) {
					if len(findEvents(w.events(), "deploy_matches", "drifted:*")) == 0 {
						t.Errorf("an uncommitted edit must not read as drift:\n%s", dumpEvents(w.events()))
					}
				}},
			note: "info only, exit 0: the deployed file still matches HEAD"},
		cell{fault: fAgentNotLoaded,
			setup: func(t *testing.T, w *world) { w.launchctl("bootout", domain()+"/"+primaryLabel) },
			want:  failing(2, "agent_not_loaded", "agent_not_loaded:*")},
		cell{fault: fFallbackRace,
			setup: func(t *testing.T, w *world) { w.launchctl("enable", domain()+"/"+fallbackLabel) },
			want:  failing(2, "fallback_race", "fallback_race"),
			note:  "launchd has the fallback enabled: it would race the primary for the port at boot"},
		cell{fault: fProbeStale,
			setup: func(t *testing.T, w *world) {
				w.freshTickAt("guardian", 30*time.Second, time.Now().Add(-10*time.Minute))
			},
			want: failing(2, "probe_stale", "probe_stale:*")},
		cell{fault: fManagerDown,
			setup: func(t *testing.T, w *world) { w.args = append(w.args, "--launchctl", lookPath(t, "false")) },
			want: want{code: 3, event: "service_manager_unavailable", check: "service_manager", alert: delivered,
				then: onlyManagerUnknown},
			note: "launchctl itself fails (exit 1): one UNKNOWN on service_manager, and no verdict on the agents or the fallback"},
		driftSigterm(),
	)
	drifted := trigger{setup: driftFile, ticks: 1, code: 2, event: "drifted", check: "drifted:*", heal: restore}
	return append(cells, alertCells(drifted)...)
}

// --- SIGTERM in the slow part of a file probe -------------------------------

// slowSigtermCell is SIGTERM for the probes that do not talk to the council:
// a healthy first tick saves the state, then the last tick is made slow by
// slowArgs (added for it alone, once ready says so the signal lands inside
// the slow part). The cancelled tick must end UNKNOWN with tick_cancelled and
// tick_done, spool or send nothing, and leave the state file parseable and
// undecided (its last tick is still the healthy one).
func slowSigtermCell(where string, slowArgs func(t *testing.T, w *world) (args []string, ready func(pid int) bool), then func(t *testing.T, w *world), note string) cell {
	var before time.Time
	return cell{fault: fSIGTERM, ticks: 2,
		last: func(w *world) probetest.Result {
			st, err := state.Load(w.stateFile(), w.rig.name)
			if err != nil {
				w.t.Fatalf("the healthy tick left a bad state file: %v", err)
			}
			before = st.LastTick
			args, ready := slowArgs(w.t, w)
			w.args = append(w.args, args...)
			return w.sigtermWhen(where, ready)
		},
		want: want{code: 3, event: "tick_cancelled",
			then: func(t *testing.T, w *world) {
				cancelledThenDone(t, w.events())
				st, err := state.Load(w.stateFile(), w.rig.name)
				if err != nil {
					t.Fatalf("the cancelled tick corrupted the state file: %v", err)
				}
				if !st.LastTick.Equal(before) {
					t.Errorf("a cancelled tick decided something: last tick %s, the healthy one was %s", st.LastTick, before)
				}
				if then != nil {
					then(t, w)
				}
			}},
		note: note,
	}
}

// cancelledThenDone asserts the last tick_cancelled is followed by a
// tick_done: a cancelled tick still finishes.
func cancelledThenDone(t *testing.T, evs []map[string]any) {
	t.Helper()
	cancelled := -1
	for i, e := range evs {
		if e["event"] == "tick_cancelled" {
			cancelled = i
		}
	}
	for _, e := range evs[cancelled+1:] {
		if cancelled >= 0 && e["event"] == "tick_done" {
			return
		}
	}
	t.Errorf("a cancelled tick must still finish (tick_done after tick_cancelled):\n%s", dumpEvents(evs))
}

// slowGit writes a fake git into the cell's home that records its pid in a
// marker file and then becomes sleep(1) for 30 s (exec: same pid, so
// killing it leaves nothing behind). It returns the script, the marker and
// a reader of the pid (0 until the script has run).
func slowGit(t *testing.T, w *world) (script string, pid func() int) {
	sleep := lookPath(t, "sleep")
	sh := lookPath(t, "sh")
	dir := filepath.Join(w.home.Dir, "fakegit")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "running")
	script = filepath.Join(dir, "git")
	body := "#!" + sh + "\n" +
		"echo $$ >" + shQuote(marker+".tmp") + " && mv " + shQuote(marker+".tmp") + " " + shQuote(marker) + "\n" +
		"exec " + shQuote(sleep) + " 30\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	pid = func() int {
		b, err := os.ReadFile(marker)
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	t.Cleanup(func() {
		if p := pid(); p > 0 {
			syscall.Kill(p, syscall.SIGKILL) // a no-op once it is gone, as it must be
		}
	})
	return script, pid
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// driftSigterm: the tick is inside git (a fake one that sleeps) when the
// signal lands; the git child must be killed, not left running.
func driftSigterm() cell {
	var gitPID func() int
	return slowSigtermCell("ran git",
		func(t *testing.T, w *world) ([]string, func(int) bool) {
			var script string
			script, gitPID = slowGit(t, w)
			return []string{"--git", script, "--timeout", "60s"}, func(int) bool { return gitPID() > 0 }
		},
		func(t *testing.T, w *world) {
			p := gitPID()
			if !eventually(func() bool { return !alive(p) }) {
				t.Errorf("the fake git (pid %d) still runs after the cancelled tick ended", p)
			}
		},
		"a tick cancelled while git runs (a fake git that sleeps) kills git, ends UNKNOWN and decides nothing")
}

// integritySigterm: the tick is hashing a weight manifest's 16 GiB sparse
// file (seconds of SHA-256 even at SHA-extension speed) when the signal
// lands. That the hashing started is seen in /proc/<pid>/fd: the probe has
// the file open.
func integritySigterm() cell {
	return slowSigtermCell("opened the weight file to hash it",
		func(t *testing.T, w *world) ([]string, func(int) bool) {
			if _, err := os.Stat("/proc/self/fd"); err != nil {
				t.Skipf("no /proc to see the probe start hashing: %v", err)
			}
			h := primaryOf(w)
			// Outside the home: the leak check reads every file there.
			dir := t.TempDir()
			weights := filepath.Join(dir, "model.safetensors")
			f, err := os.Create(weights)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := os.Truncate(weights, 16<<30); err != nil {
				t.Skipf("this filesystem cannot hold a 16 GiB sparse file: %v", err)
			}
			mf := filepath.Join(dir, "SHA256SUMS")
			// The digest is of nothing: the tick must never get to compare it.
			line := strings.Repeat("0", 64) + " *model.safetensors\n"
			if err := os.WriteFile(mf, []byte(line), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := signing.SignFile(h.Priv, mf); err != nil {
				t.Fatal(err)
			}
			return []string{"--manifest", mf}, func(pid int) bool { return hasOpen(pid, weights) }
		},
		nil,
		"a tick cancelled while it hashes a 16 GiB weight file stops hashing at once, ends UNKNOWN and decides nothing")
}

// hasOpen reports whether process pid has path open (Linux /proc).
func hasOpen(pid int, path string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == path {
			return true
		}
	}
	return false
}

// alive reports whether pid is a process that is not a zombie.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false
		}
	}
	return true
}

// eventually polls cond for a few seconds: a killed process may take a
// moment to be reaped.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
