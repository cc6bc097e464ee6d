package drift

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

var (
	driftBin      string
	launchctlBin  string
	systemctlBin  string
	journalctlBin string
)

func TestMain(m *testing.M) {
	probetest.RunMain(m,
		probetest.Binary{Out: &driftBin, Pkg: "./cmd/council-drift", Name: "council-drift"},
		probetest.FakeLaunchctl(&launchctlBin),
		probetest.FakeSystemctl(&systemctlBin), probetest.FakeJournalctl(&journalctlBin))
}

const (
	primaryLabel  = "com.sanctum.mlx"
	fallbackLabel = "com.sanctum.server-mlx"
)

// deployment is one mapped file: its canonical path in the repo, its
// deployed path under the test home, and its committed content.
type deployment struct {
	Canonical string
	Deployed  string // relative to $HOME
	Content   []byte
}

// fixture is a council host in a temporary $HOME: a real git repo at the
// default ~/sanctum-rs, deployed copies of its files, the drift map at its
// default path, a fake launchd with every expected agent loaded and the
// fallback disabled, fresh state files of the other probes and a Force
// Flow stand-in.
type fixture struct {
	t     *testing.T
	home  *probetest.Home
	repo  *testRepo
	ld    *probetest.Launchd
	ff    *probetest.ForceFlow
	files []deployment
	// serverURL is the council drift asks who it is: by default a
	// loopback port nobody listens on (the server is the guardian's
	// business; drift's other checks must not depend on it).
	serverURL string
	// env is added to every run's environment (FAKE_LAUNCHD_FAIL=...).
	env []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	home := probetest.NewHome(t)
	repoDir := filepath.Join(home.Dir, "sanctum-rs")
	if err := os.MkdirAll(repoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, home: home, repo: newTestRepo(t, repoDir), ld: probetest.NewLaunchd(t, launchctlBin), ff: probetest.NewForceFlow(t),
		serverURL: fmt.Sprintf("http://127.0.0.1:%d", probetest.FreePort(t))}

	binary := make([]byte, 256<<10)
	for i := range binary {
		binary[i] = byte(i % 251)
	}
	f.files = []deployment{
		{"deploy/launchd/com.sanctum.mlx.plist", "Library/LaunchAgents/com.sanctum.mlx.plist", agentPlist(t, primaryLabel)},
		{"scripts/council-guardian.sh", "bin/council-guardian.sh", []byte("#!/bin/sh\nexec council-guardian \"$@\"\n")},
		{"config/instance.yaml", ".sanctum/instance.yaml", []byte("fallback_urls: [http://127.0.0.1:8902/v1]\n")},
		{"target/release/sanctum-mlx", "opt/sanctum-mlx", binary},
	}
	var m strings.Builder
	m.WriteString("# test drift map\n")
	for _, d := range f.files {
		f.repo.write(d.Canonical, d.Content)
		fmt.Fprintf(&m, "~/%s = %s\n", d.Deployed, d.Canonical)
		f.writeDeployed(d.Deployed, d.Content)
	}
	f.repo.write("README", []byte("not deployed\n"))
	f.repo.commitAll("initial deploy")
	f.writeHome(".sanctum/council-drift.map", []byte(m.String()))

	// Every expected agent loaded (plists outside LaunchAgents, as a
	// bootstrap from anywhere loads them); the fallback disciplined.
	for _, label := range defaultExpectedAgents(suite.Probes, primaryLabel, "com.sanctum", service.Launchd) {
		p := filepath.Join(t.TempDir(), label+".plist")
		if err := os.WriteFile(p, agentPlist(t, label), 0o644); err != nil {
			t.Fatal(err)
		}
		f.launchctl("bootstrap", f.domain(), p)
	}
	f.writeFallbackPlist(map[string]any{"RunAtLoad": false, "Disabled": true, "KeepAlive": true})
	f.launchctl("disable", f.domain()+"/"+fallbackLabel)

	for _, w := range defaultWatched(suite.Probes) {
		name, _, _ := strings.Cut(w, "=")
		f.writeProbeState(name, time.Now(), 0)
	}
	return f
}

func agentPlist(t testing.TB, label string) []byte {
	return plistBytes(t, plist.XMLFormat, map[string]any{
		"Label": label, "ProgramArguments": []string{"/bin/true"}, "RunAtLoad": false,
	})
}

func (f *fixture) domain() string { return fmt.Sprintf("gui/%d", os.Getuid()) }

func (f *fixture) path(rel string) string { return filepath.Join(f.home.Dir, filepath.FromSlash(rel)) }

func (f *fixture) writeHome(rel string, content []byte) {
	f.t.Helper()
	p := f.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) writeDeployed(rel string, content []byte) { f.t.Helper(); f.writeHome(rel, content) }

func (f *fixture) fallbackPlist() string {
	return f.path("Library/LaunchAgents/" + fallbackLabel + ".plist")
}

// writeFallbackPlist writes the fallback plist with keys on top of its
// label and program; a nil value leaves a key out.
func (f *fixture) writeFallbackPlist(keys map[string]any) {
	f.t.Helper()
	m := map[string]any{"Label": fallbackLabel, "ProgramArguments": []string{"/bin/true"}}
	for k, v := range keys {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	f.writeHome("Library/LaunchAgents/"+fallbackLabel+".plist", plistBytes(f.t, plist.XMLFormat, m))
}

func (f *fixture) writeProbeState(name string, last time.Time, intervalSeconds int) {
	f.t.Helper()
	s := state.New(name)
	s.LastTick, s.IntervalSeconds = last, intervalSeconds
	if err := s.Save(f.home.StateFile(name)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) launchctl(args ...string) {
	f.t.Helper()
	cmd := exec.Command(f.ld.Path, args...)
	cmd.Env = append(os.Environ(), f.ld.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("fake launchctl %v: %v\n%s", args, err, out)
	}
}

// tick is one run of the probe and the events it logged.
type tick struct {
	probetest.Result
	events []map[string]any
}

// run runs council-drift once with the fixture's environment (all defaults
// but the alert budget) and returns that run's events.
func (f *fixture) run(args ...string) tick {
	f.t.Helper()
	logFile := f.home.LogFile("drift")
	os.Remove(logFile)
	env := f.home.Env(append(append(f.ld.Env(), "FORCE_FLOW_URL="+f.ff.URL(), "COUNCIL_URL="+f.serverURL), f.env...)...)
	res := probetest.Run(f.t, 60*time.Second, env, driftBin, append([]string{"--timeout", "20s", "--alert-budget", "5s"}, args...)...)
	if leaks := probetest.Leaks(f.home.Dir, res.Stdout, res.Stderr); len(leaks) > 0 {
		f.t.Errorf("token leaked into %v", leaks)
	}
	return tick{Result: res, events: probetest.Events(f.t, logFile)}
}

// failures returns the failure events (level warn or worse, or a check
// event at info that is not a pass) keyed by check.
func (tk tick) checkEvents(check string) []map[string]any {
	var out []map[string]any
	for _, e := range tk.events {
		if e["check"] == check {
			out = append(out, e)
		}
	}
	return out
}

// failing lists the checks logged at warn or worse.
func (tk tick) failing() []string {
	var out []string
	for _, e := range tk.events {
		lvl, _ := e["level"].(string)
		c, _ := e["check"].(string)
		if c != "" && lvl != "info" && lvl != "debug" && e["event"] != "tick_done" {
			out = append(out, c+"="+fmt.Sprint(e["event"]))
		}
	}
	return out
}

func (tk tick) mustExit(t *testing.T, code int) {
	t.Helper()
	if tk.Code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s\nfailing: %v", tk.Code, code, tk.Stdout, tk.Stderr, tk.failing())
	}
}

// mustFail asserts exactly one event on channel, named event, at level,
// whose detail contains each of want.
func (tk tick) mustFail(t *testing.T, channel, event, level string, want ...string) map[string]any {
	t.Helper()
	evs := probetest.Find(tk.events, event, channel)
	if len(evs) != 1 {
		t.Fatalf("%d %s events on %s, want 1; failing: %v", len(evs), event, channel, tk.failing())
	}
	e := evs[0]
	if e["level"] != level {
		t.Errorf("%s level = %v, want %s", channel, e["level"], level)
	}
	detail, _ := e["detail"].(string)
	for _, w := range want {
		if !strings.Contains(detail, w) {
			t.Errorf("%s detail %q lacks %q", channel, detail, w)
		}
	}
	return e
}

func errorAlerts(alerts []alert.ForceFlowPayload) []alert.ForceFlowPayload {
	var out []alert.ForceFlowPayload
	for _, a := range alerts {
		if a.Severity.Rank() >= alert.Error.Rank() {
			out = append(out, a)
		}
	}
	return out
}

func TestIdenticalDeployPasses(t *testing.T) {
	f := newFixture(t)
	tk := f.run()
	tk.mustExit(t, 0)
	if bad := tk.failing(); len(bad) > 0 {
		t.Fatalf("failing checks on a clean host: %v", bad)
	}
	for _, d := range f.files {
		if len(probetest.Find(tk.events, "deploy_matches", "drifted:~/"+d.Deployed)) != 1 {
			t.Errorf("no deploy_matches for %s", d.Deployed)
		}
	}
	for _, label := range defaultExpectedAgents(suite.Probes, primaryLabel, "com.sanctum", service.Launchd) {
		if len(probetest.Find(tk.events, "agent_loaded", "agent_not_loaded:"+label)) != 1 {
			t.Errorf("no agent_loaded for %s", label)
		}
	}
	for _, name := range []string{"guardian", "canary", "integrity", "parity-smoke"} {
		if len(probetest.Find(tk.events, "probe_fresh", "probe_stale:"+name)) != 1 {
			t.Errorf("no probe_fresh for %s", name)
		}
	}
	if len(probetest.Find(tk.events, "probe_fresh", "probe_stale:drift")) != 0 {
		t.Error("drift watched itself")
	}
	if len(probetest.Find(tk.events, "fallback_disciplined", "fallback_race")) != 1 {
		t.Error("no fallback_disciplined")
	}
	if len(probetest.Find(tk.events, "repo_clean", "repo_dirty")) != 1 {
		t.Error("no repo_clean")
	}
	if !strings.Contains(tk.Stdout, "COUNCIL DRIFT OK - 4/4 file(s) match HEAD") {
		t.Errorf("status line: %q", tk.Stdout)
	}
	if got := f.ff.Alerts(); len(got) != 0 {
		t.Errorf("alerts on a clean host: %+v", got)
	}
	// drift reads launchd; it never changes it.
	for _, c := range f.ld.MutatingCalls() {
		if !strings.HasPrefix(c, "bootstrap") && !strings.HasPrefix(c, "disable") {
			t.Errorf("drift ran a mutating launchctl command: %s", c)
		}
	}

	// Deployed files go through the shared hash cache, kept in the state
	// dir (TestCheckFilesUsesTheHashCache shows the second tick reads
	// nothing).
	if _, err := os.Stat(filepath.Join(f.home.StateDir, "council-drift.hashcache.json")); err != nil {
		t.Errorf("hash cache not saved: %v", err)
	}
	if stats := probetest.Find(tk.events, "hash_stats", ""); len(stats) != 1 || stats[0]["files"] != float64(len(f.files)) {
		t.Errorf("hash_stats = %v", stats)
	}
}

// The drift lifecycle on one host: a deployed edit drifts; an uncommitted
// canonical edit is only repo_dirty; committing it drifts; fixing the
// deploy recovers; deleting a deployed file is deployed_missing; removing
// the canonical from HEAD is canonical_missing.
func TestDriftLifecycle(t *testing.T) {
	f := newFixture(t)
	script := f.files[1]
	scriptPath := f.path(script.Deployed)
	scriptName := "~/" + script.Deployed // the channel's short name
	committed := sum(script.Content)

	t.Run("editing a deployed file drifts", func(t *testing.T) {
		edited := append([]byte("# hotfix on the host\n"), script.Content...)
		f.writeDeployed(script.Deployed, edited)
		tk := f.run()
		tk.mustExit(t, 2)
		tk.mustFail(t, "drifted:"+scriptName, "drifted", "error", "deployed "+scriptPath+" sha256 "+sum(edited), "committed sha256 "+committed)
		if bad := tk.failing(); len(bad) != 1 {
			t.Errorf("other checks failing too: %v", bad)
		}
		alerts := f.ff.AlertsFor("drifted:" + scriptName)
		if len(alerts) != 1 || alerts[0].Severity != alert.Error || !strings.Contains(alerts[0].Message, sum(edited)) {
			t.Fatalf("alerts = %+v, want one error naming the hash", alerts)
		}
		f.writeDeployed(script.Deployed, script.Content)
		tk = f.run()
		tk.mustExit(t, 0)
		if a := f.ff.AlertsFor("drifted:" + scriptName); len(a) != 2 || !strings.HasSuffix(a[1].Title, "recovered") || a[1].Severity != alert.Info {
			t.Fatalf("want one recovered alert, got %+v", a)
		}
	})

	canonicalEdit := append([]byte("# new flag\n"), script.Content...)
	t.Run("an uncommitted canonical edit is repo_dirty at info only", func(t *testing.T) {
		f.repo.write(script.Canonical, canonicalEdit)
		before := len(f.ff.Alerts())
		tk := f.run()
		tk.mustExit(t, 0)
		e := tk.mustFail(t, "repo_dirty", "repo_dirty", "info", script.Canonical)
		if files, _ := e["files"].([]any); len(files) != 1 || files[0] != script.Canonical {
			t.Errorf("repo_dirty files = %v", e["files"])
		}
		if len(tk.checkEvents("drifted:"+scriptName)) != 1 || len(probetest.Find(tk.events, "deploy_matches", "drifted:"+scriptName)) != 1 {
			t.Error("an uncommitted edit read as drift")
		}
		if got := f.ff.Alerts()[before:]; len(got) != 0 {
			t.Errorf("alerts for an uncommitted edit: %+v", got)
		}
	})

	t.Run("committing the edit drifts", func(t *testing.T) {
		f.repo.commitAll("change the script")
		tk := f.run()
		tk.mustExit(t, 2)
		tk.mustFail(t, "drifted:"+scriptName, "drifted", "error", "deployed "+scriptPath+" sha256 "+committed, "committed sha256 "+sum(canonicalEdit))
		if len(probetest.Find(tk.events, "repo_clean", "repo_dirty")) != 1 {
			t.Error("repo not clean after the commit")
		}
		f.writeDeployed(script.Deployed, canonicalEdit) // deploy it
		f.run().mustExit(t, 0)
	})

	yaml := f.files[2]
	yamlPath := f.path(yaml.Deployed)
	yamlName := "~/" + yaml.Deployed
	t.Run("deleting a deployed file is deployed_missing", func(t *testing.T) {
		if err := os.Remove(yamlPath); err != nil {
			t.Fatal(err)
		}
		tk := f.run()
		tk.mustExit(t, 2)
		tk.mustFail(t, "deployed_missing:"+yamlName, "deployed_missing", "error", yamlPath, sum(yaml.Content))
		if a := f.ff.AlertsFor("deployed_missing:" + yamlName); len(a) != 1 || a[0].Severity != alert.Error {
			t.Errorf("alerts = %+v", a)
		}
	})

	t.Run("a canonical path absent from HEAD is canonical_missing", func(t *testing.T) {
		f.writeDeployed(yaml.Deployed, yaml.Content)
		f.repo.git("rm", "-q", yaml.Canonical)
		f.repo.commitAll("drop the config")
		tk := f.run()
		tk.mustExit(t, 2)
		tk.mustFail(t, "canonical_missing:"+yaml.Canonical, "canonical_missing", "error", yaml.Canonical, yamlPath)
		// The file came back, so its deployed_missing channel recovered
		// and was forgotten.
		if a := f.ff.AlertsFor("deployed_missing:" + yamlName); len(a) != 2 || !strings.HasSuffix(a[1].Title, "recovered") {
			t.Errorf("deployed_missing alerts = %+v, want the recovery", a)
		}
		s, err := state.Load(f.home.StateFile("drift"), "drift")
		if err != nil {
			t.Fatal(err)
		}
		if _, kept := s.Channels["deployed_missing:"+yamlName]; kept {
			t.Error("a closed per-file channel stayed in the state file")
		}
	})
}

// Alert fatigue (docs/DESIGN.md, incident I7): ten hourly ticks of a chronically dirty repo
// raise no error-severity alert (nor any alert), while a real drift in the
// same tick still alerts at error on its own channel.
func TestChronicRepoDirtyNeverBundlesWithDrift(t *testing.T) {
	f := newFixture(t)
	f.repo.write(f.files[0].Canonical, []byte("<!-- work in progress -->\n")) // unstaged
	f.repo.write(f.files[2].Canonical, []byte("staged: true\n"))
	f.repo.git("add", f.files[2].Canonical)
	f.repo.write("notes/untracked.md", []byte("not a canonical path\n"))
	binPath := f.path(f.files[3].Deployed)
	binName := "~/" + f.files[3].Deployed

	for i := 1; i <= 10; i++ {
		if i == 10 {
			f.writeDeployed(f.files[3].Deployed, []byte("rebuilt binary"))
		}
		tk := f.run()
		e := tk.mustFail(t, "repo_dirty", "repo_dirty", "info", "2 canonical file(s)", f.files[0].Canonical, f.files[2].Canonical)
		if e["consecutive"] != float64(i) {
			t.Errorf("tick %d: consecutive = %v", i, e["consecutive"])
		}
		if i < 10 {
			tk.mustExit(t, 0)
			if bad := tk.failing(); len(bad) != 0 {
				t.Fatalf("tick %d failing: %v", i, bad)
			}
			if !strings.Contains(tk.Stdout, "COUNCIL DRIFT OK") {
				t.Errorf("tick %d status line: %q", i, tk.Stdout)
			}
			continue
		}
		tk.mustExit(t, 2)
		tk.mustFail(t, "drifted:"+binName, "drifted", "error", binPath)
		if bad := tk.failing(); len(bad) != 1 {
			t.Errorf("tick 10 failing: %v", bad)
		}
	}
	if a := f.ff.AlertsFor("repo_dirty"); len(a) != 0 {
		t.Errorf("repo_dirty alerted: %+v", a)
	}
	all := f.ff.Alerts()
	if len(all) != 1 || all[0].Severity != alert.Error || all[0].Title != "council-drift: drifted:"+binName {
		t.Fatalf("alerts = %+v, want exactly the one drift alert at error", all)
	}
	if strings.Contains(all[0].Message, "uncommitted") || strings.Contains(all[0].Message, f.files[0].Canonical) {
		t.Errorf("drift alert bundled with repo_dirty: %q", all[0].Message)
	}
}

func TestFallbackRace(t *testing.T) {
	tests := []struct {
		name   string
		keys   map[string]any // on top of a disciplined plist; nil deletes
		enable bool           // launchctl enable instead of the fixture's disable
		forget bool           // no override in launchd at all
		lock   bool
		// disablePrimary: the promotion's `launchctl disable` of the primary
		disablePrimary bool
		want           []string // reasons; nil = no fallback_race
		level          string
		absent         bool // no fallback at all: fallback_absent
	}{
		{name: "RunAtLoad true", keys: map[string]any{"RunAtLoad": true}, want: []string{"RunAtLoad is true (it starts at login)"}, level: "error"},
		{name: "KeepAlive without RunAtLoad (incident I5)", keys: map[string]any{"RunAtLoad": nil},
			want: []string{"RunAtLoad is missing (KeepAlive=true starts it at login)"}, level: "error"},
		{name: "without Disabled", keys: map[string]any{"Disabled": nil}, want: []string{"Disabled is missing (a login bootstrap loads it enabled)"}, level: "error"},
		{name: "fine plist, launchd's disabled state missing", forget: true,
			want: []string{"launchd's disabled state for com.sanctum.server-mlx is missing"}, level: "error"},
		{name: "fine plist, launchd has it enabled", enable: true, want: []string{"launchd has com.sanctum.server-mlx enabled"}, level: "error"},
		{name: "everything wrong at once", keys: map[string]any{"RunAtLoad": nil, "Disabled": nil}, forget: true,
			want: []string{"RunAtLoad is missing", "Disabled is missing", "launchd's disabled state"}, level: "error"},
		{name: "fallback lock: enabled on purpose, primary disabled", enable: true, lock: true, disablePrimary: true},
		{name: "fallback lock does not excuse the plist", keys: map[string]any{"RunAtLoad": true}, lock: true, disablePrimary: true,
			want: []string{"RunAtLoad is true"}, level: "error"},
		{name: "fallback lock, primary still enabled in launchd", enable: true, lock: true,
			want: []string{"on the fallback, but launchd's disabled state for com.sanctum.mlx is missing", "a reboot would start the primary beside the fallback"}, level: "error"},
		// A host with no fallback has nothing to race the primary.
		{name: "no fallback plist", keys: map[string]any{"delete": true}, absent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.keys["delete"] == true {
				os.Remove(f.fallbackPlist())
			} else if tt.keys != nil {
				keys := map[string]any{"RunAtLoad": false, "Disabled": true, "KeepAlive": true}
				for k, v := range tt.keys {
					keys[k] = v
				}
				f.writeFallbackPlist(keys)
			}
			switch {
			case tt.enable:
				f.launchctl("enable", f.domain()+"/"+fallbackLabel)
			case tt.forget:
				// A fresh launchd that never heard of the label.
				f.ld = probetest.NewLaunchd(t, launchctlBin)
				for _, label := range defaultExpectedAgents(suite.Probes, primaryLabel, "com.sanctum", service.Launchd) {
					p := filepath.Join(t.TempDir(), label+".plist")
					os.WriteFile(p, agentPlist(t, label), 0o644)
					f.launchctl("bootstrap", f.domain(), p)
				}
			}
			if tt.lock {
				f.writeHome(".sanctum/state/council-fallback.lock", []byte(`{"who":"council-guardian","why":"test"}`))
			}
			if tt.disablePrimary {
				f.launchctl("disable", f.domain()+"/"+primaryLabel)
			}
			tk := f.run()
			if tt.absent {
				tk.mustExit(t, 0)
				if len(probetest.Find(tk.events, "fallback_absent", "fallback_race")) != 1 {
					t.Errorf("want fallback_absent; events on fallback_race: %v", tk.checkEvents("fallback_race"))
				}
				return
			}
			if tt.want == nil {
				tk.mustExit(t, 0)
				if len(probetest.Find(tk.events, "fallback_serving", "fallback_race")) != 1 {
					t.Errorf("want fallback_serving; events on fallback_race: %v", tk.checkEvents("fallback_race"))
				}
				return
			}
			code := map[string]int{"error": 2, "warn": 1}[tt.level]
			tk.mustExit(t, code)
			tk.mustFail(t, "fallback_race", "fallback_race", tt.level, tt.want...)
			if bad := tk.failing(); len(bad) != 1 {
				t.Errorf("other checks failing: %v", bad)
			}
			if a := f.ff.AlertsFor("fallback_race"); len(a) != 1 || string(a[0].Severity) != tt.level {
				t.Errorf("alerts = %+v", a)
			}
		})
	}
}

func TestProbeStale(t *testing.T) {
	f := newFixture(t)
	f.writeProbeState("canary", time.Now().Add(-31*time.Minute), 0)        // 3x10m passed
	f.writeProbeState("parity-smoke", time.Now().Add(-10*time.Minute), 60) // its own interval wins over 24h
	os.Remove(f.home.StateFile("integrity"))                               // never ran
	f.writeProbeState("drift", time.Now().Add(-100*time.Hour), 0)          // drift does not watch itself
	tk := f.run()
	tk.mustExit(t, 2)
	tk.mustFail(t, "probe_stale:canary", "probe_stale", "error", "council-canary last completed a tick 31m", "stale after 30m0s")
	tk.mustFail(t, "probe_stale:parity-smoke", "probe_stale", "error", "interval 1m0s, stale after 3m0s")
	tk.mustFail(t, "probe_stale:integrity", "probe_stale", "error", "council-integrity never ran")
	if bad := tk.failing(); len(bad) != 3 {
		t.Errorf("failing = %v, want only the three stale probes", bad)
	}
	for _, name := range []string{"canary", "parity-smoke", "integrity"} {
		if a := f.ff.AlertsFor("probe_stale:" + name); len(a) != 1 || a[0].Severity != alert.Error {
			t.Errorf("%s alerts = %+v", name, a)
		}
	}

	// A watch list without canary forgets its channel (one recovery).
	tk = f.run("--watch-probe", "guardian=30s", "--watch-probe", "integrity=5m", "--watch-probe", "parity-smoke=1h")
	if n := len(probetest.Find(tk.events, "probe_stale", "probe_stale:canary")) + len(probetest.Find(tk.events, "probe_fresh", "probe_stale:canary")); n != 0 {
		t.Errorf("canary still checked: %v", tk.checkEvents("probe_stale:canary"))
	}
	if len(probetest.Find(tk.events, "channel_closed", "probe_stale:canary")) != 1 {
		t.Errorf("no channel_closed for canary: %v", tk.checkEvents("probe_stale:canary"))
	}
	if a := f.ff.AlertsFor("probe_stale:canary"); len(a) != 2 || !strings.HasSuffix(a[1].Title, "recovered") {
		t.Errorf("canary alerts = %+v", a)
	}
}

func TestAgentNotLoaded(t *testing.T) {
	f := newFixture(t)
	f.launchctl("bootout", f.domain()+"/com.sanctum.council-canary")
	f.launchctl("bootout", f.domain()+"/"+primaryLabel)
	tk := f.run()
	tk.mustExit(t, 2)
	tk.mustFail(t, "agent_not_loaded:com.sanctum.council-canary", "agent_not_loaded", "error", "com.sanctum.council-canary is not loaded in launchd")
	tk.mustFail(t, "agent_not_loaded:"+primaryLabel, "agent_not_loaded", "error", primaryLabel)
	if bad := tk.failing(); len(bad) != 2 {
		t.Errorf("failing = %v", bad)
	}
	if a := errorAlerts(f.ff.Alerts()); len(a) != 2 {
		t.Errorf("want one alert per agent, got %+v", a)
	}

	// --expect-agent replaces the default list; an extra label counts.
	tk = f.run("--expect-agent", "com.sanctum.council-guardian", "--expect-agent", "com.example.extra")
	tk.mustExit(t, 2)
	tk.mustFail(t, "agent_not_loaded:com.example.extra", "agent_not_loaded", "error")
	if len(probetest.Find(tk.events, "agent_not_loaded", "agent_not_loaded:com.sanctum.council-canary")) != 0 {
		t.Error("the default list was used despite --expect-agent")
	}
}

// TestEveryProbeIsAnExpectedAgent: the expected agents are the suite's
// registry, so an unloaded council-pace is reported (it once was not: the
// list was written out by hand and left pace out).
func TestEveryProbeIsAnExpectedAgent(t *testing.T) {
	f := newFixture(t)
	f.launchctl("bootout", f.domain()+"/com.sanctum.council-pace")
	tk := f.run()
	tk.mustExit(t, 2)
	tk.mustFail(t, "agent_not_loaded:com.sanctum.council-pace", "agent_not_loaded", "error", "com.sanctum.council-pace is not loaded in launchd")
	for _, p := range suite.Probes {
		label := p.Label("com.sanctum")
		ch := "agent_not_loaded:" + label
		if n := len(probetest.Find(tk.events, "agent_loaded", ch)) + len(probetest.Find(tk.events, "agent_not_loaded", ch)); n != 1 {
			t.Errorf("%s: %d agent events, want 1", label, n)
		}
	}
}

// TestSeventhProbe: a probe added to the registry is an expected agent and
// a watched heartbeat, with nothing else in drift changed.
func TestSeventhProbe(t *testing.T) {
	probes := append(slices.Clone(suite.Probes), suite.Probe{Name: "context", At: &suite.TimeOfDay{Hour: 3, Minute: 30}})
	if got := defaultExpectedAgents(probes, primaryLabel, "com.sanctum", service.Launchd); !slices.Contains(got, "com.sanctum.council-context") {
		t.Errorf("expected agents %q lack council-context", got)
	}
	if got := defaultWatched(probes); !slices.Contains(got, "context=24h0m0s") || slices.ContainsFunc(got, func(w string) bool { return strings.HasPrefix(w, "drift=") }) {
		t.Errorf("watched %q: want context at a day, and never drift itself", got)
	}
}

// A broken map or repository is UNKNOWN, and the launchd and heartbeat
// checks still run.
func TestConfigProblemsAreUnknown(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(f *fixture)
		check  string
		event  string
		detail string
	}{
		{"missing map", func(f *fixture) { os.Remove(f.path(".sanctum/council-drift.map")) }, "map", "map_error", "no such file"},
		{"bad map line", func(f *fixture) { f.writeHome(".sanctum/council-drift.map", []byte("# x\nrelative = a\n")) }, "map", "map_error", "council-drift.map:2: deployed path relative is not absolute"},
		{"no repository", func(f *fixture) { os.RemoveAll(f.repo.Dir) }, "repo", "repo_error", "cannot compare with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.break_(f)
			tk := f.run()
			tk.mustExit(t, 3)
			tk.mustFail(t, tt.check, tt.event, "error", tt.detail)
			if len(probetest.Find(tk.events, "agent_loaded", "")) != 1+len(suite.Probes) || len(probetest.Find(tk.events, "probe_fresh", "")) != len(defaultWatched(suite.Probes)) {
				t.Error("the other checks did not run")
			}
		})
	}
}

func TestBadFlagIsUnknown(t *testing.T) {
	f := newFixture(t)
	tk := f.run("--watch-probe", "canary")
	tk.mustExit(t, 3)
	tk.mustFail(t, "config", "config_error", "error", "want name=interval")
	f.run().mustExit(t, 0)
	if a := f.ff.AlertsFor("config"); len(a) != 2 || !strings.HasSuffix(a[1].Title, "recovered") {
		t.Errorf("config alerts = %+v, want the alert and its recovery", a)
	}
}

// State written when file channels were named after the absolute path
// (drifted:/Users/x/...) is renamed, not duplicated: an open drift keeps its
// count, its start and its cooldown under the short name, so the upgrade
// neither re-alerts nor announces a recovery; a channel of a file that is no
// longer mapped is closed and forgotten. No ghost channel is left.
func TestOldChannelNamesAreRenamed(t *testing.T) {
	f := newFixture(t)
	script := f.files[1]
	scriptPath := f.path(script.Deployed)
	f.writeDeployed(script.Deployed, append([]byte("# hotfix\n"), script.Content...))

	since := time.Now().Add(-5 * time.Hour).UTC().Round(time.Second)
	s := state.New("drift")
	s.IntervalSeconds = 3600
	s.LastTick = time.Now().Add(-time.Hour)
	s.Channels["drifted:"+scriptPath] = &alert.Channel{Consecutive: 5, Firing: true, Severity: alert.Error,
		Summary: "old", Since: since, LastAlert: since, LastSeverity: alert.Error}
	s.Channels["drifted:"+f.path("Library/LaunchAgents/com.sanctum.mlx.plist")] = &alert.Channel{LastOK: since}
	gone := filepath.Join(filepath.Dir(f.home.Dir), "another-home", "bin", "x.sh")
	s.Channels["deployed_missing:"+gone] = &alert.Channel{Consecutive: 2, Severity: alert.Error, Summary: "missing", Since: since}
	if err := s.Save(f.home.StateFile("drift")); err != nil {
		t.Fatal(err)
	}

	tk := f.run()
	tk.mustExit(t, 2)
	tk.mustFail(t, "drifted:~/"+script.Deployed, "drifted", "error", scriptPath)
	if evs := probetest.Find(tk.events, "channel_renamed", ""); len(evs) != 2 {
		t.Errorf("%d channel_renamed events, want 2: %v", len(evs), evs)
	}
	if a := f.ff.Alerts(); len(a) != 0 {
		t.Errorf("the rename alerted (a drift in its cooldown, or a false recovery): %+v", a)
	}
	got, err := state.Load(f.home.StateFile("drift"), "drift")
	if err != nil {
		t.Fatal(err)
	}
	c := got.Channels["drifted:~/"+script.Deployed]
	if c == nil || c.Consecutive != 6 || !c.Firing || !c.Since.Equal(since) || !c.LastAlert.Equal(since) {
		t.Errorf("renamed channel = %+v, want the old one's state carried on (6 in a row since %s, firing)", c, since)
	}
	for name := range got.Channels {
		check, subject, _ := strings.Cut(name, ":")
		if (check == CheckDrifted || check == CheckDeployedMissing) && !strings.HasPrefix(subject, "~/") {
			t.Errorf("ghost channel %q left in the state", name)
		}
	}
}
