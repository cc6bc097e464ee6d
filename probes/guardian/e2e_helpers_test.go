package guardian_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
	"github.com/sanctum/council-probes/pkg/testkit/testpki"
)

// The real binaries, built once in TestMain.
var guardianBin, launchctlBin, simBin string

func TestMain(m *testing.M) {
	probetest.RunMain(m,
		probetest.Binary{Out: &guardianBin, Pkg: "github.com/sanctum/council-probes/probes/guardian/cmd/council-guardian", Name: "council-guardian"},
		probetest.Binary{Out: &simBin, Pkg: "github.com/sanctum/council-probes/pkg/testkit/councilsim/cmd/council-sim", Name: "council-sim"},
		probetest.FakeLaunchctl(&launchctlBin),
		// simBin is the rigs' --primary-binary: give it the Metal library
		// restore-primary's checks want beside it.
		probetest.Setup(func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "mlx.metallib"), []byte("MTLB metal library"), 0o644)
		}))
}

const (
	primaryLabel  = "com.sanctum.mlx"
	fallbackLabel = "com.sanctum.server-mlx"
)

var uid = os.Getuid()

func service(label string) string { return fmt.Sprintf("gui/%d/%s", uid, label) }

// rig is one test's council host: a throwaway $HOME, a fake launchd, a
// Force Flow stand-in and the arguments every guardian run gets.
type rig struct {
	t  *testing.T
	h  *probetest.Home
	ld *probetest.Launchd
	ff *probetest.ForceFlow
	// args are passed to every run before the run's own.
	args []string
	env  []string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	h := probetest.NewHome(t)
	r := &rig{t: t, h: h, ld: probetest.NewLaunchd(t, launchctlBin), ff: probetest.NewForceFlow(t)}
	os.MkdirAll(r.launchAgents(), 0o700)
	r.args = []string{
		// An executable primary binary, so only the log decides.
		"--primary-binary", simBin,
		"--timeout", "2s", "--verify-timeout", "15s", "--verify-interval", "100ms",
		// The primaries the tests start are seconds old; the start-up
		// grace has its own test.
		"--startup-grace", "0",
	}
	return r
}

func (r *rig) launchAgents() string { return filepath.Join(r.h.Dir, "Library", "LaunchAgents") }
func (r *rig) primaryLog() string   { return filepath.Join(r.h.LogDir, "sanctum-mlx.log") }
func (r *rig) fallbackPlist() string {
	return filepath.Join(r.launchAgents(), fallbackLabel+".plist")
}
func (r *rig) primaryPlist() string { return filepath.Join(r.launchAgents(), primaryLabel+".plist") }
func (r *rig) fallbackLock() string {
	return filepath.Join(r.h.StateDir, "council-fallback.lock")
}

// environ is the guardian's environment: the home, the fake launchd and
// Force Flow, plus extra.
func (r *rig) environ(extra ...string) []string {
	env := r.h.Env(r.ld.Env()...)
	env = append(env, "FORCE_FLOW_URL="+r.ff.URL())
	env = append(env, r.env...)
	return append(env, extra...)
}

// run runs one guardian tick (or subcommand) and returns its result.
func (r *rig) run(args ...string) probetest.Result {
	r.t.Helper()
	return probetest.Run(r.t, 90*time.Second, r.environ(), guardianBin, append(append([]string(nil), r.args...), args...)...)
}

// events are the guardian's events so far.
func (r *rig) events() []map[string]any {
	return probetest.Events(r.t, r.h.LogFile("guardian"))
}

// launchctl runs the fake launchctl as the test's operator would.
func (r *rig) launchctl(args ...string) {
	r.t.Helper()
	cmd := exec.Command(launchctlBin, args...)
	cmd.Env = r.h.Env(r.ld.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("launchctl %v: %v\n%s", args, err, out)
	}
}

// disabled is launchd's override database as `launchctl print-disabled
// gui/<uid>` shows it (label -> disabled).
func (r *rig) disabled() map[string]bool {
	r.t.Helper()
	cmd := exec.Command(launchctlBin, "print-disabled", fmt.Sprintf("gui/%d", uid))
	cmd.Env = r.h.Env(r.ld.Env()...)
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("launchctl print-disabled: %v", err)
	}
	m, err := launchctl.ParsePrintDisabled(out)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

// mutating returns the state-changing launchctl calls made since the
// first `since` calls.
func (r *rig) mutating(since int) []string {
	calls := r.ld.Calls()
	if since > len(calls) {
		return nil
	}
	var out []string
	for _, c := range calls[since:] {
		if !strings.HasPrefix(c, "print") {
			out = append(out, c)
		}
	}
	return out
}

// deadURL is a loopback URL that refuses connections.
func deadURL(t *testing.T) string { return fmt.Sprintf("http://127.0.0.1:%d", probetest.FreePort(t)) }

type plistOpts struct {
	label     string
	args      []string
	runAtLoad *bool
	keepAlive bool
	disabled  bool
}

func boolp(b bool) *bool { return &b }

// writePlist writes a launchd plist in Apple's XML format.
func writePlist(t *testing.T, path string, o plistOpts) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key><string>` + html.EscapeString(o.label) + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, a := range o.args {
		b.WriteString("\t\t<string>" + html.EscapeString(a) + "</string>\n")
	}
	b.WriteString("\t</array>\n")
	if o.runAtLoad != nil {
		fmt.Fprintf(&b, "\t<key>RunAtLoad</key><%t/>\n", *o.runAtLoad)
	}
	fmt.Fprintf(&b, "\t<key>KeepAlive</key><%t/>\n", o.keepAlive)
	if o.disabled {
		b.WriteString("\t<key>Disabled</key><true/>\n")
	}
	b.WriteString("\t<key>ProcessType</key><string>Background</string>\n</dict>\n</plist>\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// simArgs is the argv of a council-sim serving plain HTTP on port (bearer
// when the home has a token), plus mTLS on mtlsPort when non-zero, with
// its access log at accessLog and its pid in pidFile.
func (r *rig) simArgs(port, mtlsPort int, accessLog, pidFile string) []string {
	args := []string{simBin, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--pid-file", pidFile}
	if accessLog != "" {
		args = append(args, "--access-log", accessLog)
	}
	if _, err := os.Stat(r.h.TokenFile()); err == nil {
		args = append(args, "--token-file", r.h.TokenFile())
	}
	if mtlsPort != 0 {
		certs := testpki.CertsDir(r.h.Dir)
		args = append(args, "--mtls-listen", fmt.Sprintf("127.0.0.1:%d", mtlsPort),
			"--ca-cert", filepath.Join(certs, "ca.crt"), "--server-cert", filepath.Join(certs, "server.crt"),
			"--server-key", filepath.Join(certs, "server.key"))
	}
	return args
}

// launchedSim is a council-sim run by the fake launchd.
type launchedSim struct {
	URL, MTLSURL string
	PIDFile      string
	Plist        string
}

// loadPrimary writes the primary's plist (council-sim on fresh ports,
// access log = the primary log) and bootstraps it; it returns once the
// simulator serves.
func (r *rig) loadPrimary(mtls bool) launchedSim {
	r.t.Helper()
	port, mport := probetest.FreePort(r.t), 0
	if mtls {
		mport = probetest.FreePort(r.t)
	}
	s := launchedSim{URL: fmt.Sprintf("http://127.0.0.1:%d", port), PIDFile: filepath.Join(r.h.Dir, "primary.pid"), Plist: r.primaryPlist()}
	if mtls {
		s.MTLSURL = fmt.Sprintf("https://127.0.0.1:%d", mport)
	}
	writePlist(r.t, s.Plist, plistOpts{label: primaryLabel, args: r.simArgs(port, mport, r.primaryLog(), s.PIDFile), runAtLoad: boolp(true)})
	r.launchctl("bootstrap", fmt.Sprintf("gui/%d", uid), s.Plist)
	r.waitServing(s.URL)
	return s
}

// writeFallback writes the fallback's plist as it ships: Disabled=true,
// RunAtLoad=false, KeepAlive=true, serving on a fresh port.
func (r *rig) writeFallback() launchedSim {
	r.t.Helper()
	port := probetest.FreePort(r.t)
	s := launchedSim{URL: fmt.Sprintf("http://127.0.0.1:%d", port), PIDFile: filepath.Join(r.h.Dir, "fallback.pid"), Plist: r.fallbackPlist()}
	writePlist(r.t, s.Plist, plistOpts{label: fallbackLabel, args: r.simArgs(port, 0, "", s.PIDFile),
		runAtLoad: boolp(false), keepAlive: true, disabled: true})
	return s
}

// waitServing waits until url answers /v1/models (any status).
func (r *rig) waitServing(url string) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/v1/models")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s did not come up", url)
}

// kill SIGKILLs the simulator whose pid is in pidFile and waits until its
// port refuses connections.
func (r *rig) kill(s launchedSim) {
	r.t.Helper()
	// The simulator may answer a moment before its pid file is written.
	var b []byte
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err = os.ReadFile(s.PIDFile); err == nil && len(bytes.TrimSpace(b)) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		r.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "http://"), time.Second)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s still accepts connections after SIGKILL", s.URL)
}

// appendLog appends lines to the primary's log.
func (r *rig) appendLog(lines ...string) {
	r.t.Helper()
	f, err := os.OpenFile(r.primaryLog(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
}

// readLock reads the fallback lock.
func (r *rig) readLock() *launchctl.FallbackLock {
	r.t.Helper()
	lk, err := launchctl.ReadFallbackLock(r.fallbackLock())
	if err != nil {
		r.t.Fatalf("fallback lock: %v", err)
	}
	return lk
}

// one returns the single event named event (for check), failing otherwise.
func one(t *testing.T, evs []map[string]any, event, check string) map[string]any {
	t.Helper()
	got := probetest.Find(evs, event, check)
	if len(got) != 1 {
		t.Fatalf("want exactly one %s event (check %q), got %d:\n%s", event, check, len(got), dump(evs))
	}
	return got[0]
}

func none(t *testing.T, evs []map[string]any, event string) {
	t.Helper()
	if got := probetest.Find(evs, event, ""); len(got) != 0 {
		t.Fatalf("want no %s event, got %d:\n%s", event, len(got), dump(got))
	}
}

func dump(evs []map[string]any) string {
	var b strings.Builder
	for _, e := range evs {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func wantCode(t *testing.T, res probetest.Result, code int) {
	t.Helper()
	if res.Code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", res.Code, code, res.Stdout, res.Stderr)
	}
}

func wantCalls(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("launchctl calls:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func noLeaks(t *testing.T, r *rig, outputs ...string) {
	t.Helper()
	if l := probetest.Leaks(r.h.Dir, outputs...); len(l) > 0 {
		t.Fatalf("token leaked into %v", l)
	}
}

// ctxT is a context bounded for a test helper.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
