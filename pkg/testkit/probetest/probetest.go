// Package probetest is the shared kit for the probes' end-to-end tests: it
// builds real binaries, lays out a throwaway $HOME with the default cert
// layout, starts the council simulator, a Force Flow stand-in and the fake
// launchd, runs a probe binary and reads its JSON-lines events. Every probe's
// tests use it, so the five probes are tested the same way.
package probetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/forceflowsim"
	"github.com/sanctum/council-probes/pkg/testkit/gobuild"
	"github.com/sanctum/council-probes/pkg/testkit/launchdsim"
	"github.com/sanctum/council-probes/pkg/testkit/systemdsim"
	"github.com/sanctum/council-probes/pkg/testkit/testpki"
)

// PlantedToken is the bearer token tests plant; Leaks checks for it.
const PlantedToken = "sk-council-PLANTED-token-7d41f0"

// Build compiles the Go package pkg (an import path or ./dir) into dir and
// returns the binary's path. Call it from TestMain with a temporary dir.
func Build(dir, pkg, name string) (string, error) { return gobuild.Build(dir, pkg, name) }

// BuildFakeLaunchctl builds the fake launchctl into dir.
func BuildFakeLaunchctl(dir string) (string, error) { return gobuild.FakeLaunchctl(dir) }

// BuildFakeSystemd builds the simulated systemd's fake-systemctl and
// fake-journalctl into dir.
func BuildFakeSystemd(dir string) (systemctl, journalctl string, err error) {
	return gobuild.FakeSystemd(dir)
}

// Home is a throwaway $HOME laid out like the council host.
type Home struct {
	Dir      string
	StateDir string
	LogDir   string
	CA       *testpki.CA
	t        testing.TB
}

// NewHome creates a temporary home. It does not set $HOME for the test
// process; pass Env() to the probe.
func NewHome(t testing.TB) *Home {
	t.Helper()
	dir := t.TempDir()
	h := &Home{Dir: dir, StateDir: filepath.Join(dir, ".sanctum", "state"), LogDir: filepath.Join(dir, ".openclaw", "logs"), t: t}
	for _, d := range []string{h.StateDir, h.LogDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// WithCerts writes a fresh CA, the simulator's server cert and client certs
// for the named clients into the default layout.
func (h *Home) WithCerts(clients ...string) *Home {
	h.t.Helper()
	ca, err := testpki.NewCA("council test CA")
	if err != nil {
		h.t.Fatal(err)
	}
	if err := testpki.WriteCouncilLayout(h.Dir, ca, clients...); err != nil {
		h.t.Fatal(err)
	}
	h.CA = ca
	return h
}

// RemoveCerts deletes the whole cert directory (CA, server and client
// certs), so auto transport reverts to bearer.
func (h *Home) RemoveCerts() {
	os.RemoveAll(testpki.CertsDir(h.Dir))
}

// TokenFile is the default token path.
func (h *Home) TokenFile() string {
	return filepath.Join(h.Dir, ".sanctum", "secrets", "council-mlx.token")
}

// WithToken writes PlantedToken to the default token file with mode.
func (h *Home) WithToken(mode os.FileMode) *Home {
	h.t.Helper()
	p := h.TokenFile()
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, []byte(PlantedToken+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		h.t.Fatal(err)
	}
	return h
}

// LogFile is the default log path of probe name.
func (h *Home) LogFile(name string) string { return filepath.Join(h.LogDir, "council-"+name+".log") }

// StateFile is the state file of probe name.
func (h *Home) StateFile(name string) string {
	return filepath.Join(h.StateDir, "council-"+name+".json")
}

// Env is a clean environment for a probe process: HOME pointed here, PATH
// kept, no COUNCIL_* or FORCE_FLOW_URL leaking in from the test runner.
func (h *Home) Env(extra ...string) []string {
	env := []string{"HOME=" + h.Dir, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}
	return append(env, extra...)
}

// Sim starts a council simulator on loopback (plain listener, plus mTLS when
// the home has certs) with bearer auth when the home has a token file.
func (h *Home) Sim(mutate func(*councilsim.Config)) *councilsim.Sim {
	h.t.Helper()
	cfg := councilsim.Config{PlainAddr: "127.0.0.1:0", ControlAddr: ""}
	if tok, err := os.ReadFile(h.TokenFile()); err == nil {
		cfg.Token = strings.TrimSpace(string(tok))
	}
	if h.CA != nil {
		certs := testpki.CertsDir(h.Dir)
		crt, pool, err := councilsim.LoadServerTLS(filepath.Join(certs, "ca.crt"), filepath.Join(certs, "server.crt"), filepath.Join(certs, "server.key"))
		if err != nil {
			h.t.Fatal(err)
		}
		cfg.MTLSAddr, cfg.ServerCert, cfg.ClientCAs = "127.0.0.1:0", crt, pool
	}
	if mutate != nil {
		mutate(&cfg)
	}
	sim := councilsim.New(cfg)
	if err := sim.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(sim.Close)
	return sim
}

// ForceFlow is a real HTTP Force Flow stand-in (pkg/testkit/forceflowsim) on
// loopback.
type ForceFlow struct {
	*forceflowsim.Server
	srv *httptest.Server
}

// NewForceFlow starts the stand-in. Modes (see pkg/testkit/forceflowsim): "up"
// (default), "500", "400", "hang", any status code, "html200",
// "status-error", "redirect"; Close it to make it "down" (connection
// refused).
func NewForceFlow(t testing.TB) *ForceFlow {
	s := forceflowsim.New()
	f := &ForceFlow{Server: s, srv: httptest.NewServer(s)}
	t.Cleanup(f.srv.Close)
	t.Cleanup(s.Release) // runs first: frees hung handlers
	return f
}

// URL is the notify endpoint.
func (f *ForceFlow) URL() string { return f.srv.URL + "/notify" }

// Close takes the stand-in down (connection refused).
func (f *ForceFlow) Close() { f.Release(); f.srv.Close() }

// AlertsFor returns the delivered alerts whose title names check.
func (f *ForceFlow) AlertsFor(check string) []forceflowsim.Payload {
	var out []forceflowsim.Payload
	for _, a := range f.Alerts() {
		if strings.HasSuffix(a.Title, ": "+check) || strings.HasSuffix(a.Title, ": "+check+" recovered") {
			out = append(out, a)
		}
	}
	return out
}

// Launchd is a fake launchd for one test.
type Launchd struct {
	Path      string // the fake-launchctl binary
	StateFile string
	CallLog   string
}

// NewLaunchd prepares a fake launchd using the fake-launchctl binary bin;
// its processes are killed at cleanup.
func NewLaunchd(t testing.TB, bin string) *Launchd {
	dir := t.TempDir()
	l := &Launchd{Path: bin, StateFile: filepath.Join(dir, "launchd.json"), CallLog: filepath.Join(dir, "calls.log")}
	t.Cleanup(func() { launchdsim.Shutdown(l.StateFile) })
	return l
}

// Env is what a probe process needs to drive this fake launchd (the
// service manager is launchd whatever the test's OS).
func (l *Launchd) Env() []string {
	return []string{"FAKE_LAUNCHD_STATE=" + l.StateFile, "FAKE_LAUNCHD_LOG=" + l.CallLog, "COUNCIL_LAUNCHCTL=" + l.Path,
		"COUNCIL_SERVICE_MANAGER=launchd"}
}

// Calls returns the launchctl argv lines run so far.
func (l *Launchd) Calls() []string {
	data, err := os.ReadFile(l.CallLog)
	if err != nil {
		return nil
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// MutatingCalls filters Calls to the ones that change launchd state.
func (l *Launchd) MutatingCalls() []string {
	var out []string
	for _, c := range l.Calls() {
		if !strings.HasPrefix(c, "print") {
			out = append(out, c)
		}
	}
	return out
}

// Systemd is a simulated systemd (pkg/testkit/systemdsim) for one test:
// its state, unit directory and call log.
type Systemd struct {
	Systemctl, Journalctl string // the fake binaries
	StateFile             string
	Units                 string // the unit directory
	CallLog               string
	// Fail is FAKE_SYSTEMD_FAIL for the probe's calls ("" none).
	Fail string
}

// NewSystemd prepares a simulated systemd using the fake-systemctl and
// fake-journalctl binaries; units go in its Units directory (WriteUnit);
// its processes are killed at cleanup.
func NewSystemd(t testing.TB, systemctl, journalctl string) *Systemd {
	dir := t.TempDir()
	s := &Systemd{Systemctl: systemctl, Journalctl: journalctl, StateFile: filepath.Join(dir, "systemd.json"),
		Units: filepath.Join(dir, "units"), CallLog: filepath.Join(dir, "calls.log")}
	if err := os.MkdirAll(s.Units, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { systemdsim.Shutdown(s.StateFile) })
	return s
}

// Env is what a probe process needs to use this systemd as its service
// manager (user scope unless the probe says otherwise).
func (s *Systemd) Env() []string {
	env := []string{systemdsim.EnvState + "=" + s.StateFile, systemdsim.EnvUnits + "=" + s.Units, systemdsim.EnvLog + "=" + s.CallLog,
		"COUNCIL_SERVICE_MANAGER=systemd", "COUNCIL_SYSTEMCTL=" + s.Systemctl, "COUNCIL_JOURNALCTL=" + s.Journalctl}
	if s.Fail != "" {
		env = append(env, systemdsim.EnvFail+"="+s.Fail)
	}
	return env
}

// WriteUnit writes a service unit: [Unit] Description, the [Service]
// lines given, and [Install] WantedBy=default.target.
func (s *Systemd) WriteUnit(t testing.TB, name, description string, service ...string) string {
	t.Helper()
	p := filepath.Join(s.Units, name)
	body := "[Unit]\nDescription=" + description + "\n\n[Service]\n" + strings.Join(service, "\n") + "\n\n[Install]\nWantedBy=default.target\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Run runs the fake systemctl as an operator would (--user), failing the
// test when it fails.
func (s *Systemd) Run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.Systemctl, append([]string{"--user"}, args...)...)
	cmd.Env = append([]string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}, s.envForOperator()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// envForOperator is Env without the injected failures: the operator's own
// commands are not the probe's.
func (s *Systemd) envForOperator() []string {
	return []string{systemdsim.EnvState + "=" + s.StateFile, systemdsim.EnvUnits + "=" + s.Units}
}

// Calls returns the systemctl and journalctl argv lines run so far
// ("systemctl --user restart x.service").
func (s *Systemd) Calls() []string {
	data, err := os.ReadFile(s.CallLog)
	if err != nil {
		return nil
	}
	str := strings.TrimSpace(string(data))
	if str == "" {
		return nil
	}
	return strings.Split(str, "\n")
}

// MutatingCalls filters Calls to the systemctl ones that change systemd's
// state (not show, not journalctl), without the program name.
func (s *Systemd) MutatingCalls() []string {
	var out []string
	for _, c := range s.Calls() {
		rest, ok := strings.CutPrefix(c, "systemctl ")
		if !ok || strings.Contains(" "+rest+" ", " show ") {
			continue
		}
		out = append(out, rest)
	}
	return out
}

// Show is the unit's properties as the fake prints them (key=value).
func (s *Systemd) Show(t testing.TB, unit string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(s.Run(t, "show", unit), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// FreePort returns a loopback port nothing listens on right now (for a
// server a test starts later, or a URL that must refuse connections).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Result is one run of a probe binary.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs bin with args and env, bounded by timeout, and returns its exit
// code and output.
func Run(t testing.TB, timeout time.Duration, env []string, bin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %s\nstdout: %s\nstderr: %s", bin, args, timeout, out.String(), errb.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %s: %v", bin, err)
		}
		code = ee.ExitCode()
	}
	return Result{Code: code, Stdout: out.String(), Stderr: errb.String()}
}

// Events reads a JSON-lines log; every line must be JSON.
func Events(t testing.TB, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	defer f.Close()
	var evs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line is not JSON: %q", path, sc.Text())
		}
		evs = append(evs, m)
	}
	return evs
}

// Find returns the events named event (optionally only for check).
func Find(evs []map[string]any, event, check string) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		if e["event"] == event && (check == "" || e["check"] == check) {
			out = append(out, e)
		}
	}
	return out
}

// Leaks reports the files under dir and the strings that contain the planted
// token; tests assert it is empty.
func Leaks(dir string, outputs ...string) []string {
	var found []string
	for i, s := range outputs {
		if strings.Contains(s, PlantedToken) {
			found = append(found, fmt.Sprintf("output #%d", i))
		}
	}
	tokenFile := filepath.Join(dir, ".sanctum", "secrets")
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, tokenFile) {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(PlantedToken)) {
			found = append(found, p)
		}
		return nil
	})
	return found
}
