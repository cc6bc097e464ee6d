package status

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/probe"
)

// host is a throwaway council host: $HOME with the default layout.
type host struct {
	home, stateDir, logDir, lock string
}

func newHost(t *testing.T) *host {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	h := &host{home: home, stateDir: filepath.Join(home, ".sanctum", "state"), logDir: filepath.Join(home, ".openclaw", "logs")}
	h.lock = filepath.Join(h.stateDir, "council-fallback.lock")
	for _, d := range []string{h.stateDir, h.logDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *host) config(probes ...string) Config {
	return Config{StateDir: h.stateDir, LogDir: h.logDir, FallbackLock: h.lock, Probes: probes}
}

// tick runs one real tick of a minimal probe through probe.Run, so the
// state file, outbox and log are exactly what the suite writes. outcome is
// ok, warn or error; forceFlow "" disables delivery.
func (h *host) tick(t *testing.T, name string, interval time.Duration, outcome, forceFlow string) int {
	t.Helper()
	p := &probe.Probe{
		Name: name, Usage: "status test probe", Interval: interval,
		Default: alert.Policy{Threshold: 1, Cooldown: time.Hour},
		Tick: func(ctx context.Context, tk *probe.Tick) error {
			switch outcome {
			case "ok":
				tk.Pass("answer", "canary_ok")
				tk.OKSummary("1 model answers 4")
			case "warn":
				tk.Fail("latency", "canary_slow", alert.Warn, "first token after 9s")
			case "error":
				tk.Fail("answer", "canary_fail", alert.Error, "wrong answer: 5")
			}
			return nil
		},
		Stdout: io.Discard, Stderr: io.Discard,
	}
	return p.Run([]string{"council-" + name, "--state-dir", h.stateDir, "--log-file", filepath.Join(h.logDir, "council-"+name+".log"),
		"--force-flow-url", forceFlow, "--alert-budget", "2s"})
}

// writeState writes a state file by hand (for ages a real tick cannot have).
func (h *host) writeState(t *testing.T, name string, f *state.File) {
	t.Helper()
	if err := f.Save(filepath.Join(h.stateDir, "council-"+name+".json")); err != nil {
		t.Fatal(err)
	}
}

func (h *host) writeLock(t *testing.T, l launchctl.FallbackLock) {
	t.Helper()
	b, _ := json.Marshal(l)
	if err := os.WriteFile(h.lock, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// deadForceFlow is a Force Flow URL nobody listens on.
func deadForceFlow(t *testing.T) string {
	srv := httptest.NewServer(nil)
	u := srv.URL + "/notify"
	srv.Close()
	return u
}

// fleet lays out the acceptance scenario: guardian healthy, canary failing
// with its alert stuck in the outbox, drift stale, integrity's state
// corrupt, parity-smoke never run, and the fallback lock held.
func fleet(t *testing.T) *host {
	h := newHost(t)
	if code := h.tick(t, "guardian", 30*time.Second, "ok", ""); code != probe.ExitOK {
		t.Fatalf("guardian tick exit %d", code)
	}
	if code := h.tick(t, "canary", 10*time.Minute, "error", deadForceFlow(t)); code != probe.ExitCritical {
		t.Fatalf("canary tick exit %d", code)
	}
	st := state.New("drift")
	st.IntervalSeconds = 3600
	st.LastTick = time.Now().Add(-4 * time.Hour)
	st.LastExit = probe.ExitOK
	st.LastSummary = "HEAD matches the running binary"
	h.writeState(t, "drift", st)
	if err := os.WriteFile(filepath.Join(h.stateDir, "council-integrity.json"), []byte(`{"version":1,"probe":"integ`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.writeLock(t, launchctl.FallbackLock{Who: "council-guardian", When: time.Now().Add(-34 * time.Minute), Why: "primary failed 3 restarts in 10m", PID: 4242})
	return h
}

func TestFleetRowsAndExitCode(t *testing.T) {
	h := fleet(t)
	r := Collect(h.config(DefaultProbes...))
	if r.Exit != ExitCritical || r.Result != "CRITICAL" {
		t.Errorf("exit %d %s, want 2 CRITICAL (canary fails)", r.Exit, r.Result)
	}
	rows := map[string]ProbeStatus{}
	var order []string
	for _, p := range r.Probes {
		rows[p.Name] = p
		order = append(order, p.Name)
	}
	if strings.Join(order, ",") != strings.Join(DefaultProbes, ",") {
		t.Errorf("rows %v", order)
	}
	tests := []struct {
		name        string
		result      string
		stale       bool
		neverRun    bool
		outbox      int
		channels    string
		reason      string
		logProblem  string
		summaryHint string
	}{
		{name: "guardian", result: "OK", summaryHint: "1 model answers 4"},
		{name: "canary", result: "CRITICAL", outbox: 1, channels: "answer:error:firing", logProblem: "alert_spooled", summaryHint: "wrong answer: 5"},
		{name: "drift", result: "UNKNOWN", stale: true, reason: "stale: last tick 4h ago, more than 3x its 1h interval", summaryHint: "HEAD matches"},
		{name: "integrity", result: "UNKNOWN", reason: "corrupt state file"},
		{name: "parity-smoke", result: "UNKNOWN", neverRun: true, reason: "never run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := rows[tt.name]
			if p.Result != tt.result || p.Stale != tt.stale || p.NeverRun != tt.neverRun || p.OutboxDepth != tt.outbox {
				t.Errorf("got result=%s stale=%v never=%v outbox=%d, want %s %v %v %d (%+v)",
					p.Result, p.Stale, p.NeverRun, p.OutboxDepth, tt.result, tt.stale, tt.neverRun, tt.outbox, p)
			}
			var chs []string
			for _, c := range p.Channels {
				s := c.Check + ":" + c.Severity
				if c.Firing {
					s += ":firing"
				}
				chs = append(chs, s)
				if c.Since.IsZero() || c.Summary == "" {
					t.Errorf("channel lacks since/summary: %+v", c)
				}
			}
			if strings.Join(chs, ",") != tt.channels {
				t.Errorf("channels %v, want %q", chs, tt.channels)
			}
			if !strings.Contains(p.Reason, tt.reason) || (tt.reason == "" && p.Reason != "") {
				t.Errorf("reason %q, want %q", p.Reason, tt.reason)
			}
			if tt.logProblem != "" && (p.LastProblem == nil || p.LastProblem.Event != tt.logProblem) {
				t.Errorf("last problem %+v, want %s", p.LastProblem, tt.logProblem)
			}
			if !strings.Contains(p.LastSummary, tt.summaryHint) {
				t.Errorf("last summary %q, want it to contain %q", p.LastSummary, tt.summaryHint)
			}
		})
	}
	fb := r.Fallback
	if !fb.Active || fb.Who != "council-guardian" || fb.PID != 4242 || !strings.Contains(fb.Why, "3 restarts") || fb.When.IsZero() {
		t.Errorf("fallback %+v", fb)
	}
}

func TestTextTable(t *testing.T) {
	h := fleet(t)
	r := Collect(h.config(DefaultProbes...))
	var plain bytes.Buffer
	if err := WriteText(&plain, r, TextOptions{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	out := plain.String()
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour escapes without Color:\n%q", out)
	}
	lines := strings.Split(out, "\n")
	row := func(name string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, name+" ") {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		t.Fatalf("no row for %s in\n%s", name, out)
		return ""
	}
	for name, want := range map[string]string{
		"guardian":     "guardian OK ",
		"canary":       "canary CRITICAL ",
		"drift":        "drift UNKNOWN 4h ago STALE 0 stale:",
		"integrity":    "integrity UNKNOWN never 0 corrupt state file",
		"parity-smoke": "parity-smoke UNKNOWN never 0 never run",
	} {
		if got := row(name); !strings.HasPrefix(got, want) {
			t.Errorf("row %q, want prefix %q", got, want)
		}
	}
	// The row says what is wrong; the channel line under it says which check.
	if got := row("canary"); !strings.HasSuffix(got, " 1 wrong answer: 5") {
		t.Errorf("canary row %q lacks outbox depth 1 and the summary", got)
	}
	for _, want := range []string{
		"└ answer error firing since ", ", 1 in a row\n",
		"last tick: OK - HEAD matches the running binary",
		// Why the alert is stuck: news that no line above gives.
		"log last problem: ", "alert_spooled check=answer",
		"fallback lock: ACTIVE since ", "(34m ago) by council-guardian (pid 4242)\n", "  why: primary failed 3 restarts in 10m\n",
		": CRITICAL\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The channel line does not repeat the summary the row shows.
	if strings.Contains(out, "1 in a row: wrong answer: 5") {
		t.Errorf("the channel line repeats the summary:\n%s", out)
	}
	var wide bytes.Buffer
	WriteText(&wide, r, TextOptions{Location: time.UTC, Wide: true})
	if !strings.Contains(wide.String(), "1 in a row: wrong answer: 5") {
		t.Errorf("--wide lacks the channel's summary:\n%s", wide.String())
	}

	var coloured bytes.Buffer
	WriteText(&coloured, r, TextOptions{Color: true, Location: time.UTC})
	if !strings.Contains(coloured.String(), "\x1b[31;1mCRITICAL") || !strings.Contains(coloured.String(), "\x1b[32mOK") {
		t.Errorf("no colour with Color:\n%q", coloured.String())
	}
}

// TestExitCodePolicy pins the documented decisions: stale and never-run are
// UNKNOWN, UNKNOWN is worse than WARNING but a known CRITICAL is worse
// still, and an outbox backlog or the fallback lock is at least WARNING.
func TestExitCodePolicy(t *testing.T) {
	withInterval := func(f *state.File, seconds int) *state.File { f.IntervalSeconds = seconds; return f }
	now := time.Now()
	ok := func(age time.Duration, exit int) *state.File {
		f := state.New("x")
		f.IntervalSeconds, f.LastTick, f.LastExit = 30, now.Add(-age), exit
		return f
	}
	tests := []struct {
		name   string
		states map[string]*state.File
		outbox bool
		lock   bool
		want   int
	}{
		{"all healthy", map[string]*state.File{"guardian": ok(10*time.Second, 0)}, false, false, ExitOK},
		{"warning", map[string]*state.File{"guardian": ok(10*time.Second, 0), "canary": ok(time.Second, 1)}, false, false, ExitWarning},
		{"just inside 3x interval", map[string]*state.File{"guardian": ok(89*time.Second, 0)}, false, false, ExitOK},
		{"stale", map[string]*state.File{"guardian": ok(91*time.Second, 0)}, false, false, ExitUnknown},
		{"stale beats warning", map[string]*state.File{"guardian": ok(time.Hour, 0), "canary": ok(time.Second, 1)}, false, false, ExitUnknown},
		{"critical beats stale", map[string]*state.File{"guardian": ok(time.Hour, 0), "canary": ok(time.Second, 2)}, false, false, ExitCritical},
		{"never run", map[string]*state.File{"canary": ok(time.Second, 0)}, false, false, ExitUnknown},
		{"outbox backlog", map[string]*state.File{"guardian": ok(time.Second, 0)}, true, false, ExitWarning},
		{"fallback active", map[string]*state.File{"guardian": ok(time.Second, 0)}, false, true, ExitWarning},
		{"odd exit code", map[string]*state.File{"guardian": ok(time.Second, 7)}, false, false, ExitUnknown},
		{"clock skew of seconds is fine", map[string]*state.File{"guardian": ok(-10*time.Second, 0)}, false, false, ExitOK},
		{"last tick far in the future is stale", map[string]*state.File{"guardian": ok(-time.Hour, 0)}, false, false, ExitUnknown},
		// 1e10 s wrapped a Duration negative, and a stale probe read as
		// fresh forever: out of range, the registry's interval is used.
		{"an interval that would wrap does not hide a stale probe", map[string]*state.File{"guardian": withInterval(ok(time.Hour, 0), 10_000_000_000)}, false, false, ExitUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			for name, f := range tt.states {
				f.Probe = name
				h.writeState(t, name, f)
			}
			if tt.outbox {
				ob, _ := alert.LoadOutbox(filepath.Join(h.stateDir, "council-guardian.outbox.json"), 0)
				ob.Add("forceflow", alert.Notice{Probe: "guardian", Check: "unreachable", Severity: alert.Error}, now, "refused")
				if err := ob.Save(); err != nil {
					t.Fatal(err)
				}
			}
			if tt.lock {
				h.writeLock(t, launchctl.FallbackLock{Who: "council-guardian", When: now})
			}
			expected := []string{"guardian"}
			if tt.name == "never run" {
				expected = []string{"guardian", "canary"}
			}
			r := Collect(h.config(expected...))
			if r.Exit != tt.want {
				t.Errorf("exit %d, want %d: %+v", r.Exit, tt.want, r.Probes)
			}
		})
	}
}

func TestJSONRoundTrips(t *testing.T) {
	h := fleet(t)
	r := Collect(h.config(DefaultProbes...))
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, back) {
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(back)
		t.Fatalf("round trip differs:\n%s\n%s", a, b)
	}
	// The scripted view keeps what a script needs.
	var loose map[string]any
	json.Unmarshal(mustMarshal(t, r), &loose)
	for _, k := range []string{"exit", "result", "probes", "fallback", "generated_at"} {
		if _, ok := loose[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorruptFilesAreUnknownAndLeftAlone(t *testing.T) {
	tests := []struct {
		name, content, reason string
	}{
		{"truncated", `{"version":1,"probe":"guardian","last_ti`, "corrupt state file"},
		{"not json", "\x00\x01garbage", "corrupt state file"},
		{"wrong version", `{"version":99,"probe":"guardian"}`, "unsupported version 99"},
		{"wrong types", `{"version":1,"probe":"guardian","channels":{"x":"firing"}}`, "corrupt state file"},
		{"empty", ``, "corrupt state file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			path := filepath.Join(h.stateDir, "council-guardian.json")
			os.WriteFile(path, []byte(tt.content), 0o600)
			os.WriteFile(filepath.Join(h.stateDir, "council-guardian.outbox.json"), []byte("{nope"), 0o600)
			os.WriteFile(filepath.Join(h.logDir, "council-guardian.log"), []byte("not json\n{\"event\":\"probe_error\",\"level\":\"error\",\"error\":\"boom\"}\n{torn"), 0o600)
			os.WriteFile(h.lock, []byte("garbage"), 0o600)
			r := Collect(h.config("guardian"))
			p := r.Probes[0]
			if p.Result != "UNKNOWN" || !strings.Contains(p.Reason, tt.reason) {
				t.Errorf("row %+v, want UNKNOWN with %q", p, tt.reason)
			}
			if p.OutboxError == "" || !strings.Contains(p.OutboxError, "corrupt outbox") {
				t.Errorf("outbox error %q", p.OutboxError)
			}
			if p.LastProblem == nil || p.LastProblem.Detail != "boom" {
				t.Errorf("log tail %+v", p.LastProblem)
			}
			if !r.Fallback.Active || r.Fallback.Error == "" {
				t.Errorf("unparseable fallback lock must count as active with an error: %+v", r.Fallback)
			}
			if got, _ := os.ReadFile(path); string(got) != tt.content {
				t.Error("council-status changed the state file")
			}
			if _, err := os.Stat(filepath.Join(h.stateDir, "council-guardian.outbox.json")); err != nil {
				t.Error("council-status moved the outbox")
			}
			var buf bytes.Buffer
			if err := WriteText(&buf, r, TextOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestExtraProbesAreFoundOtherFilesIgnored(t *testing.T) {
	h := newHost(t)
	f := state.New("canary-eu")
	f.LastTick, f.IntervalSeconds = time.Now(), 600
	h.writeState(t, "canary-eu", f)
	os.WriteFile(filepath.Join(h.stateDir, "council-hashcache.json"), []byte(`{"entries":{}}`), 0o600)
	os.WriteFile(filepath.Join(h.stateDir, "council-canary-eu.outbox.json"), []byte(`{"entries":[]}`), 0o600)
	r := Collect(h.config("guardian"))
	var names []string
	for _, p := range r.Probes {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "guardian,canary-eu" {
		t.Errorf("probes %v: want the expected one, then the discovered one, and no cache file", names)
	}
}

func TestLogTailReadsOnlyTheEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "council-guardian.log")
	var b strings.Builder
	b.WriteString(`{"ts":"2026-04-21T03:00:00.000Z","level":"critical","event":"fallback_activated","detail":"old"}` + "\n")
	for i := 0; b.Len() < 3*tailBytes; i++ {
		fmt.Fprintf(&b, `{"ts":"2026-04-21T03:00:01.000Z","level":"info","event":"probe_ok","check":"c%d"}`+"\n", i)
	}
	b.WriteString(`{"ts":"2026-04-21T04:00:00.000Z","level":"warn","event":"restarting","check":"unreachable","detail":"kickstart"}` + "\n")
	b.WriteString(`{"ts":"2026-04-21T04:00:01.000Z","level":"error","event":"tick_done","summary":"x"}` + "\n")
	os.WriteFile(path, []byte(b.String()), 0o600)
	last, problem, errMsg := logTail(path)
	if errMsg != "" || last == nil || last.Event != "tick_done" {
		t.Fatalf("last %+v err %s", last, errMsg)
	}
	if problem == nil || problem.Event != "restarting" || problem.Check != "unreachable" || problem.Detail != "kickstart" ||
		!problem.TS.Equal(time.Date(2026, 4, 21, 4, 0, 0, 0, time.UTC)) {
		t.Errorf("problem %+v: want the restarting event (tick_done skipped, the old one out of the tail)", problem)
	}
}

func TestFormatAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {45 * time.Second, "45s"}, {3*time.Minute + 12*time.Second, "3m12s"}, {10 * time.Minute, "10m"},
		{2*time.Hour + 5*time.Minute, "2h05m"}, {4 * time.Hour, "4h"}, {75*time.Hour + 10*time.Minute, "3d03h"}, {-5 * time.Second, "-5s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatAge(tt.d); got != tt.want {
				t.Errorf("FormatAge(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

// The service manager the probes asked, as their state files record it,
// is in the report and its text; the guardian's wins.
func TestServiceManagerIsNamed(t *testing.T) {
	h := newHost(t)
	for name, mgr := range map[string]string{"guardian": "systemd user", "drift": "systemd user", "canary": ""} {
		f := state.New(name)
		f.LastTick, f.IntervalSeconds, f.ServiceManager = time.Now(), 60, mgr
		h.writeState(t, name, f)
	}
	r := Collect(h.config("guardian", "drift", "canary"))
	if r.ServiceManager != "systemd user" || r.Probes[0].ServiceManager != "systemd user" || r.Probes[2].ServiceManager != "" {
		t.Fatalf("report %q, rows %+v", r.ServiceManager, r.Probes)
	}
	var out bytes.Buffer
	if err := WriteText(&out, r, TextOptions{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\nservice manager: systemd user\n") {
		t.Errorf("text does not name the manager:\n%s", out.String())
	}
	var back Report
	if err := json.Unmarshal(mustMarshal(t, r), &back); err != nil || back.ServiceManager != "systemd user" {
		t.Errorf("JSON: %v %q", err, back.ServiceManager)
	}
}
