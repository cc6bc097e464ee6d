package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/testkit/testpki"
)

const plantedToken = "sk-PLANTED-council-token-93e1"

// testProbe is a probe whose outcome is chosen by flag, so the contract
// (exit codes, events, alerts, state, locks) is exercised through the same
// Run path real probes use.
func testProbe(network bool) *Probe {
	return &Probe{
		Name: "testprobe", Usage: "contract test probe", Interval: 30 * time.Second, Network: network,
		Default:  alert.Policy{Threshold: 2, Cooldown: 30 * time.Minute},
		Policies: map[string]alert.Policy{"transport": {Threshold: 1}},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "outcome", EnvVars: []string{"TESTPROBE_OUTCOME"}, Value: "ok"},
		},
		Tick: func(ctx context.Context, t *Tick) error {
			if t.Client != nil {
				req, _ := t.Client.NewRequest(ctx, http.MethodGet, "/v1/models", nil)
				resp, err := t.Client.HTTP.Do(req)
				if err != nil {
					t.Fail("unreachable", "probe_fail", alert.Error, err.Error())
					return nil
				}
				resp.Body.Close()
			}
			t.Perf("probe_ms", 25, "ms")
			switch o := t.C.String("outcome"); o {
			case "ok":
				t.Pass("answer", "probe_ok")
			case "warn":
				t.Fail("answer", "probe_fail", alert.Warn, "slow")
			case "error":
				t.Fail("answer", "probe_fail", alert.Error, "wrong answer 5")
			case "unknown":
				t.Unknown("answer", "probe_unknown", "cannot tell")
			case "sleep":
				// Hold the tick (and its lock) until cancelled.
				fmt.Fprintln(os.Stderr, "sleeping")
				t.Fail("answer", "probe_fail", alert.Error, "found before the signal")
				<-ctx.Done()
				return ctx.Err()
			default:
				return fmt.Errorf("bad outcome %q", o)
			}
			return nil
		},
	}
}

// TestMain lets the test binary act as the probe binary for tests that need
// real separate processes (locks, signals).
func TestMain(m *testing.M) {
	if os.Getenv("PROBE_HELPER") == "1" {
		os.Exit(testProbe(false).Run(append([]string{"council-testprobe"}, os.Args[1:]...)))
	}
	os.Exit(m.Run())
}

type env struct {
	home, logFile, stateDir string
	ff                      *forceFlowStub
}

type forceFlowStub struct {
	mu   sync.Mutex
	mode string
	got  []alert.ForceFlowPayload
	srv  *httptest.Server
}

func (f *forceFlowStub) set(m string) { f.mu.Lock(); f.mode = m; f.mu.Unlock() }
func (f *forceFlowStub) payloads() []alert.ForceFlowPayload {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]alert.ForceFlowPayload(nil), f.got...)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range []string{"COUNCIL_URL", "COUNCIL_LOG_FILE", "COUNCIL_STATE_DIR", "FORCE_FLOW_URL", "COUNCIL_DRY_RUN", "COUNCIL_TRANSPORT", "NO_COLOR"} {
		os.Unsetenv(k)
	}
	ff := &forceFlowStub{mode: "up"}
	ff.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ff.mu.Lock()
		defer ff.mu.Unlock()
		if ff.mode == "500" {
			http.Error(w, "down for maintenance", 500)
			return
		}
		var p alert.ForceFlowPayload
		json.NewDecoder(r.Body).Decode(&p)
		ff.got = append(ff.got, p)
		io.WriteString(w, `{"status":"sent","channels":["ntfy"]}`)
	}))
	t.Cleanup(ff.srv.Close)
	return &env{home: home, ff: ff,
		logFile:  filepath.Join(home, ".openclaw", "logs", "council-testprobe.log"),
		stateDir: filepath.Join(home, ".sanctum", "state")}
}

func (e *env) run(t *testing.T, p *Probe, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	p.Stdout, p.Stderr = &out, &errb
	full := append([]string{"council-testprobe", "--force-flow-url", e.ff.srv.URL + "/notify"}, args...)
	code := p.Run(full)
	return code, out.String() + errb.String()
}

func (e *env) events(t *testing.T) []map[string]any {
	t.Helper()
	f, err := os.Open(e.logFile)
	if err != nil {
		t.Fatalf("no log: %v", err)
	}
	defer f.Close()
	var evs []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		evs = append(evs, m)
	}
	return evs
}

func find(evs []map[string]any, event string) map[string]any {
	for _, e := range evs {
		if e["event"] == event {
			return e
		}
	}
	return nil
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		outcome string
		want    int
	}{
		{"ok", ExitOK}, {"warn", ExitWarning}, {"error", ExitCritical}, {"unknown", ExitUnknown}, {"explode", ExitUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.outcome, func(t *testing.T) {
			e := newEnv(t)
			code, out := e.run(t, testProbe(false), "--outcome", tt.outcome)
			if code != tt.want {
				t.Fatalf("exit %d, want %d\n%s", code, tt.want, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			wantWord := codeNames[tt.want]
			if !strings.HasPrefix(last, "COUNCIL TESTPROBE "+wantWord+" - ") || !strings.Contains(last, "| duration_ms=") || !strings.Contains(last, "probe_ms=25ms;;;0") {
				t.Fatalf("status line %q", last)
			}
		})
	}
}

func TestBadFlagIsUnknownWithClearError(t *testing.T) {
	e := newEnv(t)
	code, out := e.run(t, testProbe(false), "--no-such-flag")
	if code != ExitUnknown || !strings.Contains(out, "no-such-flag") || !strings.Contains(out, "--help") {
		t.Fatalf("exit %d, output %q", code, out)
	}
	code, out = e.run(t, testProbe(false), "--alert-budget", "soon")
	if code != ExitUnknown || !strings.Contains(out, "alert-budget") {
		t.Fatalf("bad duration: exit %d, output %q", code, out)
	}
}

func TestEventLines(t *testing.T) {
	e := newEnv(t)
	if code, out := e.run(t, testProbe(false), "--outcome", "error"); code != ExitCritical {
		t.Fatalf("exit %d: %s", code, out)
	}
	evs := e.events(t)
	ev := find(evs, "probe_fail")
	if ev == nil {
		t.Fatalf("no probe_fail event in %v", evs)
	}
	for _, k := range []string{"ts", "level", "probe", "event", "check", "duration_ms"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("event lacks %q: %v", k, ev)
		}
	}
	if ev["level"] != "error" || ev["probe"] != "testprobe" || ev["check"] != "answer" {
		t.Errorf("wrong fields: %v", ev)
	}
	done := find(evs, "tick_done")
	if done == nil || done["exit_code"] != 2.0 {
		t.Errorf("tick_done missing or wrong: %v", done)
	}
	// The probe's own cost: the process's CPU so far, and the part spent
	// before the tick began; never less than that part.
	cpu, ok1 := done["cpu_ms"].(float64)
	startup, ok2 := done["startup_cpu_ms"].(float64)
	if !ok1 || !ok2 || startup < 0 || cpu < startup {
		t.Errorf("tick_done cpu_ms=%v startup_cpu_ms=%v, want numbers with cpu_ms >= startup_cpu_ms >= 0", done["cpu_ms"], done["startup_cpu_ms"])
	}
	fi, _ := os.Stat(e.logFile)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v", fi.Mode().Perm())
	}
}

func TestHelpShowsEnvAndDefaults(t *testing.T) {
	e := newEnv(t)
	_, out := e.run(t, testProbe(true), "--help")
	for _, want := range []string{
		"--url", "$COUNCIL_URL", "http://127.0.0.1:1337",
		"--mtls-url", "$COUNCIL_MTLS_URL", "--transport", "$COUNCIL_TRANSPORT",
		"--ca-cert", "$COUNCIL_CA_CERT", filepath.Join(e.home, ".sanctum/certs/ca.crt"),
		"--client-cert", filepath.Join(e.home, ".sanctum/certs/clients/testprobe.crt"),
		"--token-file", "$COUNCIL_TOKEN_FILE", "--model", "$COUNCIL_MODEL",
		"--state-dir", "$COUNCIL_STATE_DIR", "--log-file", filepath.Join(e.home, ".openclaw/logs/council-testprobe.log"),
		"--force-flow-url", "$FORCE_FLOW_URL", "--launchctl", "$COUNCIL_LAUNCHCTL", "--dry-run", "$COUNCIL_DRY_RUN",
		"--require-mtls", "--service-manager", "$COUNCIL_SERVICE_MANAGER", "--scope", "$COUNCIL_SCOPE",
		"--systemctl", "$COUNCIL_SYSTEMCTL", "--journalctl", "$COUNCIL_JOURNALCTL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// A layout probe takes a launchd label or a systemd unit under today's
// flag names and the -unit ones, and says how the journal is named.
func TestHelpNamesUnitsAndTheJournal(t *testing.T) {
	e := newEnv(t)
	p := testProbe(false)
	p.Layout = true
	_, out := e.run(t, p, "--help")
	for _, want := range []string{"--primary-label value, --primary-unit value", "--fallback-label value, --fallback-unit value",
		"$COUNCIL_PRIMARY_UNIT", "or systemd unit", `or "journal" for systemd`} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestManagerKind(t *testing.T) {
	for _, tt := range []struct{ value, goos, want string }{
		{"auto", "darwin", "launchd"}, {"auto", "linux", "systemd"}, {"", "linux", "systemd"},
		{"launchd", "linux", "launchd"}, {"systemd", "darwin", "systemd"},
	} {
		if got, err := ManagerKind(tt.value, tt.goos); err != nil || string(got) != tt.want {
			t.Errorf("ManagerKind(%q, %q) = %q, %v; want %s", tt.value, tt.goos, got, err, tt.want)
		}
	}
	for _, bad := range [][2]string{{"auto", "freebsd"}, {"runit", "linux"}} {
		if _, err := ManagerKind(bad[0], bad[1]); err == nil {
			t.Errorf("ManagerKind(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	e := newEnv(t)
	conf := filepath.Join(e.home, ".sanctum", "council-probes.conf")
	os.MkdirAll(filepath.Dir(conf), 0o700)
	os.WriteFile(conf, []byte("# shared\noutbox-max = 7\nalert-budget = 3s\nlog-max-bytes = 999\n[testprobe]\noutbox-max = 8\n[canary]\noutbox-max = 9\n"), 0o600)
	var got Common
	p := testProbe(false)
	inner := p.Tick
	p.Tick = func(ctx context.Context, t *Tick) error { got = t.Common; return inner(ctx, t) }

	t.Setenv("COUNCIL_ALERT_BUDGET", "5s")
	if code, out := e.run(t, p, "--log-max-bytes", "12345"); code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if got.LogMaxBytes != 12345 {
		t.Errorf("flag lost to a lower source: %d", got.LogMaxBytes)
	}
	if got.AlertBudget != 5*time.Second {
		t.Errorf("env lost to the file: %v", got.AlertBudget)
	}
	if got.OutboxMax != 8 {
		t.Errorf("probe section did not override the shared one: %d", got.OutboxMax)
	}
	if got.StateDir != e.stateDir {
		t.Errorf("default state dir %q, want %q", got.StateDir, e.stateDir)
	}

	os.WriteFile(conf, []byte("[testprobe]\nno-such-setting = 1\n"), 0o600)
	code, out := e.run(t, p)
	if code != ExitUnknown || !strings.Contains(out, "no-such-setting") {
		t.Fatalf("unknown key in own section: exit %d %q", code, out)
	}
	os.WriteFile(conf, []byte("this line has no equals sign\n"), 0o600)
	code, out = e.run(t, p)
	if code != ExitUnknown || !strings.Contains(out, "line 1") {
		t.Fatalf("malformed config: exit %d %q", code, out)
	}
}

func TestHysteresisAndRecoveryAcrossTicks(t *testing.T) {
	e := newEnv(t)
	p := testProbe(false)
	e.run(t, p, "--outcome", "error")
	if n := len(e.ff.payloads()); n != 0 {
		t.Fatalf("alerted on the first miss (%d)", n)
	}
	e.run(t, p, "--outcome", "error")
	e.run(t, p, "--outcome", "error") // inside the cooldown
	got := e.ff.payloads()
	if len(got) != 1 || got[0].Severity != "error" || got[0].Source != "council-testprobe" || got[0].Title != "council-testprobe: answer" {
		t.Fatalf("want exactly one error alert on the second miss, got %+v", got)
	}
	e.run(t, p, "--outcome", "ok")
	e.run(t, p, "--outcome", "ok")
	got = e.ff.payloads()
	if len(got) != 2 || got[1].Severity != "info" || !strings.Contains(got[1].Title, "recovered") {
		t.Fatalf("want one recovered info alert, got %+v", got)
	}
}

func TestNotifierDownSpoolsThenDelivers(t *testing.T) {
	e := newEnv(t)
	p := testProbe(false)
	e.ff.set("500")
	e.run(t, p, "--outcome", "error", "--alert-budget", "1s")
	e.run(t, p, "--outcome", "error", "--alert-budget", "1s")
	if find(e.events(t), "alert_spooled") == nil {
		t.Fatal("no alert_spooled event")
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "council-testprobe.outbox.json")); err != nil {
		t.Fatalf("outbox not on disk: %v", err)
	}
	e.ff.set("up")
	e.run(t, p, "--outcome", "error")
	got := e.ff.payloads()
	if len(got) != 1 || got[0].Severity != "error" {
		t.Fatalf("spooled alert not delivered exactly once: %+v", got)
	}
}

func TestCorruptStateIsResetWithWarning(t *testing.T) {
	e := newEnv(t)
	os.MkdirAll(e.stateDir, 0o700)
	os.WriteFile(filepath.Join(e.stateDir, "council-testprobe.json"), []byte(`{"version":1,"chann`), 0o600)
	code, out := e.run(t, testProbe(false))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	ev := find(e.events(t), "state_reset")
	if ev == nil || ev["level"] != "warn" {
		t.Fatalf("no state_reset warning: %v", ev)
	}
}

func TestDryRunPrintsAlertInsteadOfSending(t *testing.T) {
	e := newEnv(t)
	p := testProbe(false)
	e.run(t, p, "--outcome", "error") // first miss: held by hysteresis
	statePath := filepath.Join(e.stateDir, "council-testprobe.json")
	before, _ := os.ReadFile(statePath)
	_, out := e.run(t, p, "--outcome", "error", "--dry-run")
	if len(e.ff.payloads()) != 0 {
		t.Fatal("dry-run delivered")
	}
	if !strings.Contains(out, "dry-run: would send alert: POST "+e.ff.srv.URL+"/notify") {
		t.Fatalf("dry-run output lacks the request: %s", out)
	}
	if after, _ := os.ReadFile(statePath); !bytes.Equal(before, after) {
		t.Fatalf("dry-run changed the state:\n%s\n->\n%s", before, after)
	}
	// The alert the dry run only printed must still go out on the next real
	// tick, not be held back by a cooldown it never started.
	e.run(t, p, "--outcome", "error")
	if got := e.ff.payloads(); len(got) != 1 || got[0].Severity != "error" {
		t.Fatalf("real tick after a dry run: want one error alert, got %+v", got)
	}
}

func TestMetricsFile(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.home, "textfile")
	e.run(t, testProbe(false), "--outcome", "error", "--metrics-dir", dir)
	data, err := os.ReadFile(filepath.Join(dir, "council_testprobe.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`council_probe_success{probe="testprobe"} 0`, `council_check_status{probe="testprobe",check="answer"} 1`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("metrics lack %q:\n%s", want, data)
		}
	}
}

// Network probes: a partial cert set is exit 3 with the missing file named
// and an alert on the transport channel; the token never shows anywhere.
func TestTransportMisconfigAndSecrets(t *testing.T) {
	e := newEnv(t)
	ca, _ := testpki.NewCA("ca")
	if err := testpki.WriteCouncilLayout(e.home, ca, "testprobe"); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(e.home, ".sanctum", "certs", "clients", "testprobe.key")
	os.Remove(key)
	code, out := e.run(t, testProbe(true))
	if code != ExitUnknown || !strings.Contains(out, "transport") {
		t.Fatalf("partial certs: exit %d\n%s", code, out)
	}
	ev := find(e.events(t), "transport_error")
	if ev == nil || !strings.Contains(ev["detail"].(string), key) {
		t.Fatalf("transport_error does not name %s: %v", key, ev)
	}
	got := e.ff.payloads()
	if len(got) != 1 || got[0].Title != "council-testprobe: transport" {
		t.Fatalf("want one transport alert, got %+v", got)
	}

	// Now bearer: remove the rest of the certs and plant a token.
	os.RemoveAll(filepath.Join(e.home, ".sanctum", "certs"))
	var sawAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth = r.Header.Get("Authorization")
		io.WriteString(w, `{"data":[]}`)
	}))
	defer srv.Close()
	tok := filepath.Join(e.home, ".sanctum", "secrets", "council-mlx.token")
	os.MkdirAll(filepath.Dir(tok), 0o700)
	os.WriteFile(tok, []byte(plantedToken), 0o600)
	code, out = e.run(t, testProbe(true), "--url", srv.URL, "--log-file", "-")
	if code != ExitOK || sawAuth != "Bearer "+plantedToken {
		t.Fatalf("bearer run: exit %d auth %q\n%s", code, sawAuth, out)
	}
	if !strings.Contains(out, `"transport":"bearer"`) {
		t.Fatalf("events lack transport=bearer: %s", out)
	}
	// A world-readable token is refused, without echoing it.
	os.Chmod(tok, 0o644)
	code, out = e.run(t, testProbe(true), "--url", srv.URL)
	if code != ExitUnknown || !strings.Contains(out, "chmod 600") {
		t.Fatalf("world-readable token: exit %d %s", code, out)
	}
	logData, _ := os.ReadFile(e.logFile)
	stateData, _ := os.ReadFile(filepath.Join(e.stateDir, "council-testprobe.json"))
	for name, s := range map[string]string{"stdout": out, "log": string(logData), "state": string(stateData)} {
		if strings.Contains(s, plantedToken) {
			t.Fatalf("the token leaked into %s", name)
		}
	}
	for _, p := range e.ff.payloads() {
		if strings.Contains(p.Message, plantedToken) {
			t.Fatal("the token leaked into an alert")
		}
	}
}

func TestExpiredClientCertAlerts(t *testing.T) {
	e := newEnv(t)
	ca, _ := testpki.NewCA("ca")
	testpki.WriteCouncilLayout(e.home, ca, "testprobe")
	crt, key, _ := ca.Issue(testpki.IssueOpts{CommonName: "testprobe", Client: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	dir := filepath.Join(e.home, ".sanctum", "certs", "clients")
	os.WriteFile(filepath.Join(dir, "testprobe.crt"), crt, 0o644)
	os.WriteFile(filepath.Join(dir, "testprobe.key"), key, 0o600)
	p := testProbe(true)
	p.Policies["cert_expiry"] = alert.Policy{Threshold: 1}
	code, _ := e.run(t, p, "--mtls-url", "https://127.0.0.1:1")
	if code != ExitCritical {
		t.Fatalf("exit %d, want 2", code)
	}
	ev := find(e.events(t), "cert_expired")
	if ev == nil || ev["level"] != "error" || ev["transport"] != "mtls" {
		t.Fatalf("cert_expired event: %v", ev)
	}
}

// helper starts the test binary as a real probe process.
func helper(t *testing.T, e *env, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--force-flow-url", e.ff.srv.URL + "/notify"}, args...)...)
	cmd.Env = append(os.Environ(), "PROBE_HELPER=1", "HOME="+e.home)
	return cmd
}

func waitSleeping(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	pipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(pipe).ReadString('\n')
	if !strings.Contains(line, "sleeping") {
		t.Fatalf("helper did not reach its tick: %q", line)
	}
}

func TestConcurrentTickIsSkipped(t *testing.T) {
	e := newEnv(t)
	first := helper(t, e, "--outcome", "sleep")
	waitSleeping(t, first)
	defer func() { first.Process.Signal(syscall.SIGTERM); first.Wait() }()

	second := helper(t, e, "--outcome", "ok")
	out, _ := second.CombinedOutput()
	if second.ProcessState.ExitCode() != ExitUnknown {
		t.Fatalf("second tick exit %d, want 3: %s", second.ProcessState.ExitCode(), out)
	}
	if find(e.events(t), "skipped_overlap") == nil {
		t.Fatal("no skipped_overlap event")
	}
}

func TestSIGTERMCancelsCleanlyAndLosesNothing(t *testing.T) {
	e := newEnv(t)
	e.ff.set("500")
	// Seed the channel so the failure found before the signal alerts.
	os.MkdirAll(e.stateDir, 0o700)
	os.WriteFile(filepath.Join(e.stateDir, "council-testprobe.json"),
		[]byte(`{"version":1,"probe":"testprobe","channels":{"answer":{"consecutive":1}}}`), 0o600)
	cmd := helper(t, e, "--outcome", "sleep")
	waitSleeping(t, cmd)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != ExitUnknown {
		t.Fatalf("exit %d after SIGTERM, want 3", code)
	}
	evs := e.events(t)
	if find(evs, "tick_cancelled") == nil {
		t.Fatalf("no tick_cancelled event: %v", evs)
	}
	data, err := os.ReadFile(filepath.Join(e.stateDir, "council-testprobe.outbox.json"))
	if err != nil || !strings.Contains(string(data), "found before the signal") {
		t.Fatalf("the alert found before SIGTERM was lost: %v %s", err, data)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add("a = b\n[canary]\nstream = true\n# c\n")
	f.Add("[x\n")
	f.Add("k = \"quoted\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		cf, err := ParseConfig(strings.NewReader(s))
		if err != nil {
			return
		}
		for sec, kv := range cf {
			for k := range kv {
				if k == "" || strings.ContainsAny(k, " \t=") {
					t.Fatalf("accepted bad key %q in [%s]", k, sec)
				}
			}
		}
	})
}

func TestSubcommandExitCoder(t *testing.T) {
	e := newEnv(t)
	p := testProbe(false)
	p.Commands = []*cli.Command{{
		Name: "verify",
		Action: func(c *cli.Context) error {
			return cli.Exit("signature does not verify", ExitCritical)
		},
	}}
	code, out := e.run(t, p, "verify")
	if code != ExitCritical || !strings.Contains(out, "signature does not verify") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

func TestPassQuietCountsWithoutAnEvent(t *testing.T) {
	e := newEnv(t)
	p := testProbe(false)
	p.Tick = func(ctx context.Context, t *Tick) error {
		t.PassQuiet("reached")
		t.Fail("answer", "probe_fail", alert.Warn, "slow")
		return nil
	}
	dir := filepath.Join(e.home, "textfile")
	code, _ := e.run(t, p, "--metrics-dir", dir)
	if code != ExitWarning {
		t.Fatalf("exit %d", code)
	}
	for _, ev := range e.events(t) {
		if ev["check"] == "reached" {
			t.Fatalf("PassQuiet logged an event: %v", ev)
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, "council_testprobe.prom"))
	if !strings.Contains(string(data), `check="reached"} 0`) {
		t.Fatalf("quiet pass missing from metrics:\n%s", data)
	}
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	code, out := e.run(t, testProbe(false), "--version")
	if code != ExitOK || !strings.HasPrefix(out, "council-testprobe version "+Version+" (go") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}
