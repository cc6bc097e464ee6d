package launchctl

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"howett.net/plist"

	"github.com/sanctum/council-probes/pkg/testkit/gobuild"
	"github.com/sanctum/council-probes/pkg/testkit/launchdsim"
)

// fakeLaunchctl is the fake-launchctl binary, built once in TestMain.
var fakeLaunchctl string

// TestMain builds the fake launchctl, and doubles as two helper
// processes: a tiny server that launchd-managed test services run, and a
// prober that races another to promote the fallback.
func TestMain(m *testing.M) {
	if addrFile := os.Getenv("LAUNCHCTL_TEST_SERVE"); addrFile != "" {
		serve(addrFile)
		return
	}
	if os.Getenv("LAUNCHCTL_TEST_PROMOTE") != "" {
		os.Exit(promoteHelper())
	}
	dir, err := os.MkdirTemp("", "fake-launchctl-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if fakeLaunchctl, err = gobuild.FakeLaunchctl(dir); err != nil {
		fmt.Fprintln(os.Stderr, "building fake launchctl:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serve is a stand-in model server: it answers /v1/models with its pid
// and publishes its address in addrFile (atomically, so a reader never
// sees half an address).
func serve(addrFile string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	tmp := addrFile + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, []byte(ln.Addr().String()), 0o600); err != nil {
		os.Exit(1)
	}
	if err := os.Rename(tmp, addrFile); err != nil {
		os.Exit(1)
	}
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid %d\n", os.Getpid())
	}))
}

// fakeLaunchd is one test's launchd: its state, invocation log and
// injected failures, passed to the fake through the environment of each
// command so tests can run in parallel.
type fakeLaunchd struct {
	t     *testing.T
	dir   string
	state string
	log   string
	fail  string
}

func newFake(t *testing.T) *fakeLaunchd {
	t.Helper()
	dir := t.TempDir()
	f := &fakeLaunchd{t: t, dir: dir, state: filepath.Join(dir, "launchd.json"), log: filepath.Join(dir, "calls.log")}
	t.Cleanup(func() {
		if err := launchdsim.Shutdown(f.state); err != nil {
			t.Errorf("shutting down fake launchd: %v", err)
		}
	})
	return f
}

func (f *fakeLaunchd) env() []string {
	return append(os.Environ(),
		launchdsim.EnvState+"="+f.state,
		launchdsim.EnvLog+"="+f.log,
		launchdsim.EnvFail+"="+f.fail,
	)
}

// runner returns a Runner for gui/501 that runs the fake, with short
// verify budgets (they only bound a hang; nothing asserts on time).
func (f *fakeLaunchd) runner() *Runner {
	r := New(fakeLaunchctl)
	r.UID = 501
	r.Out = io.Discard
	r.VerifyTimeout = 20 * time.Second
	r.VerifyInterval = 50 * time.Millisecond
	r.BootstrapRetryDelay = 0
	r.Exec = func(ctx context.Context, path string, args []string) ([]byte, int, error) {
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Env = f.env()
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return out, ee.ExitCode(), nil
		}
		if err != nil {
			return out, -1, err
		}
		return out, 0, nil
	}
	return r
}

// calls returns the logged launchctl invocations, consuming them.
func (f *fakeLaunchd) calls() []string {
	f.t.Helper()
	b, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	os.Remove(f.log)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func (f *fakeLaunchd) wantCalls(want ...string) {
	f.t.Helper()
	got := f.calls()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		f.t.Errorf("launchctl calls:\n  got  %q\n  want %q", got, want)
	}
}

// agent describes a test LaunchAgent that runs the serve helper.
type agent struct {
	label     string
	plist     string
	addrFile  string
	runAtLoad *bool
	keepAlive bool
	disabled  bool
}

func boolp(b bool) *bool { return &b }

// writeAgent writes a plist for a service that runs this test binary as
// the serve helper.
func (f *fakeLaunchd) writeAgent(a *agent) *agent {
	f.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		f.t.Fatal(err)
	}
	if a.plist == "" {
		a.plist = filepath.Join(f.dir, a.label+".plist")
	}
	a.addrFile = filepath.Join(f.dir, a.label+".addr")
	p := map[string]any{
		"Label":                a.label,
		"ProgramArguments":     []string{exe, "-test.run=^$"},
		"EnvironmentVariables": map[string]string{"LAUNCHCTL_TEST_SERVE": a.addrFile},
		"KeepAlive":            a.keepAlive,
		"StandardErrorPath":    filepath.Join(f.dir, a.label+".err.log"),
	}
	if a.runAtLoad != nil {
		p["RunAtLoad"] = *a.runAtLoad
	}
	if a.disabled {
		p["Disabled"] = true
	}
	b, err := plist.MarshalIndent(p, plist.XMLFormat, "\t")
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(a.plist, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
	return a
}

// serving returns a verify function: the agent answers over HTTP, from a
// process other than notPID (0: any).
func (a *agent) serving(notPID int) func(context.Context) error {
	return func(ctx context.Context) error {
		_, pid, err := a.get(ctx)
		if err != nil {
			return err
		}
		if notPID != 0 && pid == notPID {
			return fmt.Errorf("still the old process %d", pid)
		}
		return nil
	}
}

func (a *agent) get(ctx context.Context) (string, int, error) {
	addr, err := os.ReadFile(a.addrFile)
	if err != nil {
		return "", 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+string(addr)+"/v1/models", nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	var pid int
	if _, err := fmt.Sscanf(string(body), "pid %d", &pid); err != nil {
		return "", 0, fmt.Errorf("unexpected answer %q", body)
	}
	return string(addr), pid, nil
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // only detects a hang
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reboot simulates a restart of the Mac as launchd sees it: every loaded
// label is booted out (its process stopped; the override database of
// enable/disable survives, as it does on disk), then, as at login, every
// plist in the test's LaunchAgents dir (f.dir) is bootstrapped. A
// bootstrap that fails is what login does too: that agent stays unloaded
// (the fake, like macOS 14+, answers EIO for a label turned off with
// `launchctl disable`). As launchd does, the fake starts a loaded, enabled
// KeepAlive job at load whatever RunAtLoad says, so nothing here kickstarts
// anything. The reboot's own launchctl calls are consumed from the call log.
func (f *fakeLaunchd) reboot(r *Runner) {
	f.t.Helper()
	ctx := context.Background()
	st, err := launchdsim.ReadState(f.state)
	if err != nil {
		f.t.Fatal(err)
	}
	for label := range st.Services {
		if err := r.Bootout(ctx, label); err != nil {
			f.t.Fatalf("reboot: %v", err)
		}
	}
	plists, err := filepath.Glob(filepath.Join(f.dir, "*.plist"))
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range plists {
		_ = r.Bootstrap(ctx, p) // a disabled label does not load at login
	}
	f.calls()
}

// running lists the labels whose process launchd runs, sorted.
func (f *fakeLaunchd) running() []string {
	f.t.Helper()
	st, err := launchdsim.ReadState(f.state)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for label, svc := range st.Services {
		if svc.PID > 0 && processAlive(svc.PID) {
			out = append(out, label)
		}
	}
	sort.Strings(out)
	return out
}
