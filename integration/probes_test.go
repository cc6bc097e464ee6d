package integration

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/councilsim"
	"github.com/sanctum/council-probes/pkg/launchctl"
	"github.com/sanctum/council-probes/pkg/probetest"
	"github.com/sanctum/council-probes/pkg/signing"
	"github.com/sanctum/council-probes/pkg/state"
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
}

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
			want:  want{code: 2, event: "check_failed", check: "binary_missing", alert: delivered, then: promoted},
			note:  "promotes the fallback (the next respawn would fail), verified serving"},
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
		// The fallback as it must be: RunAtLoad=false, Disabled=true, and
		// disabled in launchd's override database.
		w.writeFallback()
		w.launchctl("disable", domain()+"/"+fallbackLabel)
		// The expected agent, loaded (not running: drift checks loaded).
		w.writeAgent(primaryLabel)
		w.launchctl("bootstrap", domain(), filepath.Join(w.launchAgents(), primaryLabel+".plist"))
		// A watched probe that ticked just now.
		w.freshTick("guardian", 30*time.Second)
		return []string{"--map", d.Map, "--repo", d.Repo, "--expect-agent", primaryLabel,
			"--watch-probe", "guardian=30s", "--timeout", "10s"}
	},
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
		cell{fault: fLaunchctlEIO,
			setup: func(t *testing.T, w *world) { w.args = append(w.args, "--launchctl", lookPath(t, "false")) },
			want:  want{code: 3, event: "launchctl_error", check: "agent_not_loaded:*", alert: delivered},
			note:  "launchctl itself fails: UNKNOWN, not a verdict on the agents"},
	)
	drifted := trigger{setup: driftFile, ticks: 1, code: 2, event: "drifted", check: "drifted:*", heal: restore}
	return append(cells, alertCells(drifted)...)
}
