package integrity

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/host/primarycheck"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// The end-to-end tests run the real council-integrity binary against real
// files, modes and processes and the fake launchd. They are Linux-only: the
// stale-process check reads /proc, and the binary verifies ed25519 (on macOS
// it would run codesign).

var integrityBin, fakeLaunchctl, fakeSystemctl, fakeJournalctl string

func TestMain(m *testing.M) {
	probetest.RunMain(m,
		probetest.Binary{Out: &integrityBin, Pkg: "./cmd/council-integrity", Name: "council-integrity"},
		probetest.FakeLaunchctl(&fakeLaunchctl), probetest.FakeSystemctl(&fakeSystemctl), probetest.FakeJournalctl(&fakeJournalctl))
}

const (
	primaryLabel  = "com.sanctum.mlx"
	fallbackLabel = "com.sanctum.server-mlx"
)

// host is a council host in a temporary $HOME: the primary binary (a copy
// of sleep) in its default place, signed, with its metallib, a signed weight
// manifest, a fallback plist, a fake launchd and a Force Flow stand-in.
type host struct {
	t        *testing.T
	home     *probetest.Home
	launchd  *probetest.Launchd
	ff       *probetest.ForceFlow
	bin      string
	priv     string
	pub      string
	pidFile  string
	manifest string
	weights  []string
	primary  *exec.Cmd
	args     []string
	seen     int
}

func newHost(t *testing.T) *host {
	t.Helper()
	h := &host{t: t, home: probetest.NewHome(t)}
	h.bin = filepath.Join(h.home.Dir, "sanctum-rs", "target", "release", "sanctum-mlx")
	os.MkdirAll(filepath.Dir(h.bin), 0o755)
	probetest.CopyFile(t, "/bin/sleep", h.bin, 0o755)
	if err := os.WriteFile(primarycheck.MetallibPath(h.bin, primarycheck.DefaultMetallib), []byte("MTLB metal library"), 0o644); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(h.home.Dir, ".sanctum", "keys")
	os.MkdirAll(keys, 0o700)
	h.priv, h.pub = probetest.NewKey(t, keys, "release")
	probetest.SignFile(t, h.priv, h.bin)
	h.manifest, h.weights = weights(t, h.home.Dir, h.priv, 3, 256<<10)
	h.pidFile = filepath.Join(h.home.Dir, "sanctum-mlx.pid")

	h.launchd = probetest.NewLaunchd(t, fakeLaunchctl)
	h.ff = probetest.NewForceFlow(t)
	agents := filepath.Join(h.home.Dir, "Library", "LaunchAgents")
	h.writePlist(filepath.Join(agents, fallbackLabel+".plist"), map[string]any{
		"Label": fallbackLabel, "ProgramArguments": []string{"/bin/sleep", "300"},
		"KeepAlive": true, "RunAtLoad": false, "Disabled": true,
	})
	h.args = []string{
		"--signing-pubkey", h.pub, "--manifest", h.manifest, "--pid-file", h.pidFile,
		"--force-flow-url", h.ff.URL(), "--fallback-url", "", "--verify-timeout", "10s",
	}
	return h
}

func (h *host) writePlist(path string, p map[string]any) {
	h.t.Helper()
	b, err := plist.MarshalIndent(p, plist.XMLFormat, "\t")
	if err == nil {
		os.MkdirAll(filepath.Dir(path), 0o755)
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		h.t.Fatal(err)
	}
}

// start runs the primary from the binary on disk and writes its pid file.
func (h *host) start() {
	h.t.Helper()
	h.stop()
	h.primary = startPrimary(h.t, h.bin, h.pidFile)
}

func (h *host) stop() {
	if h.primary != nil {
		stop(h.primary)
		h.primary = nil
	}
}

// run runs one tick and returns its result and the events it logged.
func (h *host) run(extra ...string) (probetest.Result, []map[string]any) {
	h.t.Helper()
	env := h.home.Env(h.launchd.Env()...)
	res := probetest.Run(h.t, 60*time.Second, env, integrityBin, append(slices.Clone(h.args), extra...)...)
	all := probetest.Events(h.t, h.home.LogFile("integrity"))
	evs := all[h.seen:]
	h.seen = len(all)
	if leaks := probetest.Leaks(h.home.Dir, res.Stdout, res.Stderr); len(leaks) > 0 {
		h.t.Errorf("planted token leaked into %v", leaks)
	}
	if key, err := os.ReadFile(h.priv); err == nil {
		body := strings.Join(strings.Split(string(key), "\n")[1:3], "")
		for _, s := range []string{res.Stdout, res.Stderr, eventsText(evs)} {
			if strings.Contains(s, body) {
				h.t.Errorf("the private key leaked into the output")
			}
		}
	}
	return res, evs
}

func eventsText(evs []map[string]any) string { return fmt.Sprint(evs) }

// failing returns the checks reported failing (at warn or worse, or
// unknown) and the event of each.
func failing(evs []map[string]any) map[string]string {
	out := map[string]string{}
	for _, e := range evs {
		check, _ := e["check"].(string)
		ev, _ := e["event"].(string)
		switch ev {
		case eventFailed, eventNotRunning, eventUnknown:
			out[check] = ev
		}
	}
	return out
}

func one(t *testing.T, evs []map[string]any, event, check string) map[string]any {
	t.Helper()
	got := probetest.Find(evs, event, check)
	if len(got) != 1 {
		t.Fatalf("want one %s event for %q, got %d in %v", event, check, len(got), evs)
	}
	return got[0]
}

func promoteCalls(calls []string) []string {
	var out []string
	for _, c := range calls {
		if !strings.HasPrefix(c, "print") {
			out = append(out, c)
		}
	}
	return out
}

func TestE2EChecks(t *testing.T) {
	tests := []struct {
		name string
		// running: start the primary first. The byte-level tampering
		// cases leave it stopped: Linux refuses to write a running
		// executable (ETXTBSY), and stale_process then says not_running.
		running bool
		break_  func(h *host)
		want    map[string]string // check -> event
		promote bool
		detail  map[string]string // check -> substring of its detail
	}{
		{name: "healthy", running: true, break_: func(h *host) {}, want: map[string]string{}},
		{name: "binary deleted", running: true, break_: func(h *host) { os.Remove(h.bin) },
			want: map[string]string{CheckBinaryMissing: eventFailed, CheckStaleProcess: eventFailed}, promote: true, // no signature alert: nothing to verify, one cause
			detail: map[string]string{CheckBinaryMissing: "binary missing", CheckStaleProcess: "gone"}},
		{name: "chmod -x", running: true, break_: func(h *host) { os.Chmod(h.bin, 0o644) },
			want: map[string]string{CheckBinaryMissing: eventFailed}, promote: true,
			detail: map[string]string{CheckBinaryMissing: "mode 0644"}},
		{name: "truncated one byte", break_: func(h *host) { truncateOne(h.t, h.bin) },
			want: map[string]string{CheckSignatureInvalid: eventFailed, CheckStaleProcess: eventNotRunning}, promote: true,
			detail: map[string]string{CheckSignatureInvalid: "signature invalid"}},
		{name: "one byte flipped", break_: func(h *host) { probetest.FlipByte(h.t, h.bin, 1000) },
			want: map[string]string{CheckSignatureInvalid: eventFailed, CheckStaleProcess: eventNotRunning}, promote: true,
			detail: map[string]string{CheckSignatureInvalid: "signature invalid"}},
		{name: "signed with another key", running: true, break_: func(h *host) {
			other, _ := probetest.NewKey(h.t, h.t.TempDir(), "other")
			probetest.SignFile(h.t, other, h.bin)
		}, want: map[string]string{CheckSignatureInvalid: eventFailed}, promote: true,
			detail: map[string]string{CheckSignatureInvalid: "another key"}},
		{name: "metallib removed", running: true, break_: func(h *host) { os.Remove(primarycheck.MetallibPath(h.bin, primarycheck.DefaultMetallib)) },
			want: map[string]string{CheckMetallibMissing: eventFailed}, detail: map[string]string{CheckMetallibMissing: "mlx.metallib"}},
		{name: "rebuilt, not restarted", running: true, break_: func(h *host) { probetest.CopyFile(h.t, "/bin/sleep", h.bin, 0o755) },
			want: map[string]string{CheckStaleProcess: eventFailed}, detail: map[string]string{CheckStaleProcess: "rebuilt, not restarted"}},
		{name: "primary not running", break_: func(h *host) {},
			want: map[string]string{CheckStaleProcess: eventNotRunning}},
		{name: "one weight file tampered", running: true, break_: func(h *host) {
			probetest.FlipByte(h.t, filepath.Join(filepath.Dir(h.manifest), h.weights[1]), 4)
		}, want: map[string]string{CheckManifestInvalid: eventFailed}, detail: map[string]string{CheckManifestInvalid: h1weight}},
		{name: "manifest tampered", running: true, break_: func(h *host) {
			f, _ := os.OpenFile(h.manifest, os.O_APPEND|os.O_WRONLY, 0)
			fmt.Fprintf(f, "%s *extra.bin\n", strings.Repeat("a", 64))
			f.Close()
		}, want: map[string]string{CheckManifestInvalid: eventFailed}, detail: map[string]string{CheckManifestInvalid: "manifest signature invalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			if tt.running {
				h.start()
			}
			tt.break_(h)
			res, evs := h.run()
			if got := failing(evs); !mapsEqual(got, tt.want) {
				t.Fatalf("failing checks = %v, want %v\nstdout: %s", got, tt.want, res.Stdout)
			}
			wantCode := probe0(tt.want)
			if res.Code != wantCode {
				t.Errorf("exit %d, want %d (%s)", res.Code, wantCode, res.Stdout)
			}
			for check, sub := range tt.detail {
				ev := one(t, evs, tt.want[check], check)
				if d, _ := ev["detail"].(string); !strings.Contains(d, sub) {
					t.Errorf("%s detail %q does not say %q", check, d, sub)
				}
			}
			// Every check reports every tick, whatever else failed; the
			// signature of a binary that is not there is skipped, saying why.
			for _, c := range []string{CheckBinaryMissing, CheckSignatureInvalid, CheckMetallibMissing, CheckStaleProcess, CheckManifestInvalid} {
				if _, bad := tt.want[c]; bad {
					continue
				}
				if c == CheckSignatureInvalid && tt.name == "binary deleted" {
					one(t, evs, eventSkipped, c)
					continue
				}
				one(t, evs, eventOK, c)
			}
			calls := promoteCalls(h.launchd.Calls())
			if tt.promote != (len(calls) > 0) {
				t.Errorf("promote = %v, want %v; launchctl calls %q", len(calls) > 0, tt.promote, calls)
			}
			if tt.promote {
				// Once: the next tick finds the fallback lock and leaves launchd alone.
				_, evs := h.run()
				one(t, evs, eventPromoteSkipped, "")
				if again := promoteCalls(h.launchd.Calls()); len(again) != len(calls) {
					t.Errorf("second tick changed launchd again: %q", again[len(calls):])
				}
			}
		})
	}
}

// h1weight is the name the tampered-weight case must report.
const h1weight = "shards/model-00002-of-00003.safetensors"

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// probe0 is the exit code a set of failing checks must give: 2 for any
// error, 1 for only not_running.
func probe0(want map[string]string) int {
	code := 0
	for _, ev := range want {
		if ev == eventNotRunning && code < 1 {
			code = 1
		} else if ev != eventNotRunning {
			code = 2
		}
	}
	return code
}

func TestE2EWeightTamperNamesExactlyThatFile(t *testing.T) {
	h := newHost(t)
	h.start()
	if res, evs := h.run(); res.Code != 0 {
		t.Fatalf("healthy host: exit %d: %v", res.Code, failing(evs))
	}
	probetest.FlipByte(t, filepath.Join(filepath.Dir(h.manifest), h.weights[1]), 4)
	_, evs := h.run()
	ev := one(t, evs, eventFailed, CheckManifestInvalid)
	bad, _ := ev["bad_files"].([]any)
	if len(bad) != 1 || bad[0] != h.weights[1] {
		t.Errorf("bad_files = %v, want exactly [%s]", bad, h.weights[1])
	}
	for _, w := range []string{h.weights[0], h.weights[2]} {
		if strings.Contains(ev["detail"].(string), w) {
			t.Errorf("detail names the untouched %s: %s", w, ev["detail"])
		}
	}
	if len(h.ff.AlertsFor(CheckManifestInvalid)) != 1 {
		t.Errorf("want one manifest_invalid alert, got %v", h.ff.Alerts())
	}
}

func TestE2EManifestTamperFailsBeforeHashing(t *testing.T) {
	h := newHost(t)
	h.start()
	data, _ := os.ReadFile(h.manifest)
	// Swap a digest: a valid-looking manifest that is not what was signed.
	os.WriteFile(h.manifest, []byte(strings.Replace(string(data), string(data[:8]), "00000000", 1)), 0o644)
	_, evs := h.run()
	ev := one(t, evs, eventFailed, CheckManifestInvalid)
	if ev["hashed"] != false || ev["bytes_hashed"] != nil {
		t.Errorf("manifest_invalid event %v: files were hashed before the signature failed", ev)
	}
	if _, err := os.Stat(filepath.Join(h.home.StateDir, "integrity-hashcache.json")); !os.IsNotExist(err) {
		t.Errorf("hash cache exists (%v): something was hashed", err)
	}
}

func TestE2EStaleProcessRestartClears(t *testing.T) {
	h := newHost(t)
	h.start()
	probetest.CopyFile(t, "/bin/sleep", h.bin, 0o755) // rebuilt: new inode, same signed bytes
	_, evs := h.run()
	ev := one(t, evs, eventFailed, CheckStaleProcess)
	running, disk := ev["running_inode"], ev["disk_inode"]
	if running == nil || disk == nil || running == disk {
		t.Fatalf("stale_process must report both inodes, got running=%v disk=%v", running, disk)
	}
	h.start() // restart from the new binary
	_, evs = h.run()
	ev = one(t, evs, eventOK, CheckStaleProcess)
	if ev["running_inode"] != disk {
		t.Errorf("after restart running inode %v, want the new binary's %v", ev["running_inode"], disk)
	}
	one(t, evs, "recovered", CheckStaleProcess)
	if got := h.ff.AlertsFor(CheckStaleProcess); len(got) != 2 {
		t.Errorf("want the alert and its recovery, got %v", got)
	}
}

func TestE2ELaunchctlPIDSource(t *testing.T) {
	h := newHost(t)
	plistPath := filepath.Join(h.home.Dir, "Library", "LaunchAgents", primaryLabel+".plist")
	h.writePlist(plistPath, map[string]any{"Label": primaryLabel, "ProgramArguments": []string{h.bin, "300"}, "KeepAlive": true})
	lc := exec.Command(fakeLaunchctl, "bootstrap", "gui/0", plistPath)
	lc.Env = h.home.Env(h.launchd.Env()...)
	if out, err := lc.CombinedOutput(); err != nil {
		t.Fatalf("bootstrap primary: %v %s", err, out)
	}
	args := []string{"--pid-source", "launchctl"}
	if _, evs := h.run(args...); failing(evs)[CheckStaleProcess] != "" {
		t.Fatalf("primary under launchd: %v", failing(evs))
	}
	probetest.CopyFile(t, "/bin/sleep", h.bin, 0o755)
	if _, evs := h.run(args...); failing(evs)[CheckStaleProcess] != eventFailed {
		t.Fatalf("after rebuild: %v, want stale_process", failing(evs))
	}
	lc = exec.Command(fakeLaunchctl, "kickstart", "-k", "gui/0/"+primaryLabel)
	lc.Env = h.home.Env(h.launchd.Env()...)
	if out, err := lc.CombinedOutput(); err != nil {
		t.Fatalf("kickstart: %v %s", err, out)
	}
	if _, evs := h.run(args...); failing(evs)[CheckStaleProcess] != "" {
		t.Fatalf("after kickstart -k: %v", failing(evs))
	}
}

func TestE2ERemediation(t *testing.T) {
	t.Run("promotes once and the fallback serves", func(t *testing.T) {
		h := newHost(t)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"data":[{"id":"fallback"}]}`))
		}))
		defer srv.Close()
		h.start()
		os.Remove(h.bin)
		res, evs := h.run("--fallback-url", srv.URL)
		if res.Code != 2 {
			t.Errorf("exit %d, want 2", res.Code)
		}
		one(t, evs, eventFallback, checkFallbackActivated)
		// The primary is disabled as well as booted out: login bootstraps
		// every plist in ~/Library/LaunchAgents, and a primary that is
		// only booted out would start again beside the fallback.
		want := []string{
			"bootout gui/0/" + primaryLabel, // not loaded here: tolerated
			"disable gui/0/" + primaryLabel,
			"enable gui/0/" + fallbackLabel,
			"bootstrap gui/0 " + filepath.Join(h.home.Dir, "Library", "LaunchAgents", fallbackLabel+".plist"),
			"kickstart -k gui/0/" + fallbackLabel,
		}
		calls := promoteCalls(h.launchd.Calls())
		if !slices.Equal(calls, want) {
			t.Errorf("launchctl calls:\n  got  %q\n  want %q", calls, want)
		}
		pd := exec.Command(fakeLaunchctl, "print-disabled", "gui/0")
		pd.Env = h.home.Env(h.launchd.Env()...)
		out, err := pd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if disabled, err := launchctl.ParsePrintDisabled(out); err != nil || !disabled[primaryLabel] || disabled[fallbackLabel] {
			t.Errorf("launchd overrides after the promotion: %v %v, want the primary disabled and the fallback enabled", disabled, err)
		}
		lk, err := launchctl.ReadFallbackLock(filepath.Join(h.home.StateDir, "council-fallback.lock"))
		if err != nil || lk.Who != "council-integrity" || !strings.Contains(lk.Why, CheckBinaryMissing) {
			t.Errorf("fallback lock %+v, %v", lk, err)
		}
		alerts := h.ff.AlertsFor(checkFallbackActivated)
		if len(alerts) != 1 || alerts[0].Severity != "warn" {
			t.Errorf("fallback alerts %+v, want one warn (the council serves again)", alerts)
		}
		_, evs = h.run("--fallback-url", srv.URL)
		one(t, evs, eventPromoteSkipped, "")
		if again := promoteCalls(h.launchd.Calls()); len(again) != len(calls) {
			t.Errorf("second tick promoted again: %q", again[len(calls):])
		}
	})

	t.Run("fallback lock present: report, never promote", func(t *testing.T) {
		h := newHost(t)
		os.WriteFile(filepath.Join(h.home.StateDir, "council-fallback.lock"), []byte(`{"who":"council-guardian"}`), 0o600)
		os.Chmod(h.bin, 0o600)
		res, evs := h.run()
		if res.Code != 2 || failing(evs)[CheckBinaryMissing] != eventFailed {
			t.Errorf("exit %d, failing %v", res.Code, failing(evs))
		}
		ev := one(t, evs, eventPromoteSkipped, "")
		if ev["lock_who"] != "council-guardian" {
			t.Errorf("promote_skipped %v does not say who holds the lock", ev)
		}
		if calls := promoteCalls(h.launchd.Calls()); len(calls) > 0 {
			t.Errorf("launchd changed from the fallback: %q", calls)
		}
	})

	t.Run("dry-run prints the argv and changes nothing", func(t *testing.T) {
		h := newHost(t)
		os.Remove(h.bin)
		res, evs := h.run("--dry-run")
		one(t, evs, eventPromoteDryRun, "")
		for _, w := range []string{
			"dry-run: " + fakeLaunchctl + " bootout gui/0/" + primaryLabel,
			"dry-run: " + fakeLaunchctl + " disable gui/0/" + primaryLabel,
			"dry-run: " + fakeLaunchctl + " enable gui/0/" + fallbackLabel,
			"dry-run: " + fakeLaunchctl + " kickstart -k gui/0/" + fallbackLabel,
		} {
			if !strings.Contains(res.Stdout, w) {
				t.Errorf("stdout lacks %q:\n%s", w, res.Stdout)
			}
		}
		if calls := promoteCalls(h.launchd.Calls()); len(calls) > 0 {
			t.Errorf("dry-run changed launchd: %q", calls)
		}
		if _, err := os.Stat(filepath.Join(h.home.StateDir, "council-fallback.lock")); !os.IsNotExist(err) {
			t.Errorf("dry-run wrote the fallback lock: %v", err)
		}
	})

	t.Run("promote-after waits for the streak", func(t *testing.T) {
		h := newHost(t)
		h.start()
		other, _ := probetest.NewKey(t, t.TempDir(), "other")
		probetest.SignFile(t, other, h.bin)
		_, evs := h.run("--promote-after", "2")
		one(t, evs, eventPromotePending, "")
		if calls := promoteCalls(h.launchd.Calls()); len(calls) > 0 {
			t.Fatalf("promoted on the first failure: %q", calls)
		}
		_, evs = h.run("--promote-after", "2")
		one(t, evs, eventFallback, checkFallbackActivated)
	})

	t.Run("unverified fallback is critical", func(t *testing.T) {
		h := newHost(t)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "loading", http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		os.Remove(h.bin)
		res, evs := h.run("--fallback-url", srv.URL, "--verify-timeout", "1s")
		ev := one(t, evs, eventPromoteFailed, checkFallbackDown)
		if !strings.Contains(ev["error"].(string), "503") || res.Code != 2 {
			t.Errorf("promote_failed %v exit %d", ev, res.Code)
		}
		if a := h.ff.AlertsFor(checkFallbackDown); len(a) != 1 || a[0].Severity != "critical" {
			t.Errorf("alerts %+v", a)
		}
	})

	// Some other listener on the fallback's port is not a heal: a 404 or an
	// HTML page is not an OpenAI-compatible server answering.
	for name, handler := range map[string]http.HandlerFunc{
		"404 from another listener": http.NotFound,
		"HTML 200": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>router admin</body></html>")
		},
	} {
		t.Run(name+" is not a heal", func(t *testing.T) {
			h := newHost(t)
			srv := httptest.NewServer(handler)
			defer srv.Close()
			os.Remove(h.bin)
			res, evs := h.run("--fallback-url", srv.URL, "--verify-timeout", "1s")
			one(t, evs, eventPromoteFailed, checkFallbackDown)
			if res.Code != 2 {
				t.Errorf("exit %d", res.Code)
			}
		})
	}
}

func TestE2ESignatureSkippedWithoutKey(t *testing.T) {
	h := newHost(t)
	h.start()
	i := slices.Index(h.args, "--signing-pubkey")
	h.args = slices.Delete(h.args, i, i+2)
	res, evs := h.run("--manifest-pubkey", h.pub)
	ev := one(t, evs, eventSkipped, CheckSignatureInvalid)
	if r, _ := ev["reason"].(string); !strings.Contains(r, "--signing-pubkey") || ev["level"] != "info" {
		t.Errorf("skip event %v does not say why at info", ev)
	}
	if res.Code != 0 || !strings.Contains(res.Stdout, "signature skipped") {
		t.Errorf("exit %d, status %q", res.Code, res.Stdout)
	}
}

func TestE2ESubcommands(t *testing.T) {
	dir := t.TempDir()
	env := []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	run := func(args ...string) probetest.Result {
		return probetest.Run(t, 30*time.Second, env, integrityBin, args...)
	}
	file := filepath.Join(dir, "sanctum-mlx")
	probetest.CopyFile(t, "/bin/sleep", file, 0o755)

	if res := run("keygen", "--out", filepath.Join(dir, "keys")); res.Code != 0 || !strings.Contains(res.Stdout, "SHA256:") {
		t.Fatalf("keygen: %d %s %s", res.Code, res.Stdout, res.Stderr)
	}
	key, pub := filepath.Join(dir, "keys", "council-integrity.key"), filepath.Join(dir, "keys", "council-integrity.pub")
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key %v %v, want mode 0600", fi, err)
	}
	if res := run("keygen", "--out", filepath.Join(dir, "keys")); res.Code == 0 {
		t.Errorf("keygen replaced an existing key")
	}
	if res := run("sign", "--key", key, file); res.Code != 0 {
		t.Fatalf("sign: %d %s", res.Code, res.Stderr)
	}
	if fi, err := os.Stat(file + ".sig"); err != nil || fi.Size() != 64 {
		t.Fatalf("signature %v %v, want 64 bytes", fi, err)
	}
	if res := run("verify", "--pubkey", pub, file); res.Code != 0 || !strings.Contains(res.Stdout, "OK") {
		t.Fatalf("verify: %d %s %s", res.Code, res.Stdout, res.Stderr)
	}
	probetest.FlipByte(t, file, 99)
	if res := run("verify", "--pubkey", pub, file); res.Code == 0 || !strings.Contains(res.Stderr, "signature invalid") {
		t.Errorf("verify of a modified file: %d %s", res.Code, res.Stderr)
	}
	os.Chmod(key, 0o644)
	if res := run("sign", "--key", key, file); res.Code == 0 || !strings.Contains(res.Stderr, "chmod 600") {
		t.Errorf("sign with a readable key: %d %s", res.Code, res.Stderr)
	}
	keyText, _ := os.ReadFile(key)
	body := strings.Split(string(keyText), "\n")[1]
	for _, args := range [][]string{{"sign", "--key", key, file}, {"verify", "--pubkey", key, file}} {
		if res := run(args...); strings.Contains(res.Stdout+res.Stderr, body) {
			t.Errorf("%v printed the private key", args)
		}
	}
}
