package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// runTimeout bounds one probe process. Cells use second-scale probe
// timeouts; this only turns a hung probe into a failure instead of a hung
// test run.
const runTimeout = 30 * time.Second

// probeRig is one probe binary as the matrix drives it.
type probeRig struct {
	name string // the probe's name: events, state and log files use council-<name>
	// column is the matrix column, when it is not name: the same probe
	// under the simulated systemd is "<name> (systemd)".
	column string
	// systemd: the probe's service manager is the simulated systemd
	// (pkg/testkit/systemdsim), not the fake launchd.
	systemd bool
	binary  string
	cmdDir  string // main package, relative to the repo root
	network bool   // talks to the council: the simulator and cert faults apply
	// simConfig adjusts the simulator for a healthy tick of this probe.
	simConfig func(*councilsim.Config)
	// prepare lays out what a healthy tick needs and returns the probe's
	// own arguments.
	prepare func(w *world) []string
}

// col is the rig's matrix column.
func (r probeRig) col() string {
	if r.column != "" {
		return r.column
	}
	return r.name
}

// world is one cell's council host: a throwaway $HOME (with the planted
// token), the simulator, a Force Flow stand-in, the fake launchd or the
// simulated systemd (sd, for a systemd column), and the arguments every
// tick of the probe gets.
type world struct {
	t    *testing.T
	rig  probeRig
	bin  string
	home *probetest.Home
	sim  *councilsim.Sim
	ff   *probetest.ForceFlow
	ld   *probetest.Launchd
	sd   *probetest.Systemd
	args []string // later flags win over earlier ones
	env  []string
	wrap []string // argv prefix (a resource limit)
	outs []string // every stdout and stderr, for the leak check
}

func (w *world) logFile() string   { return w.home.LogFile(w.rig.name) }
func (w *world) stateFile() string { return w.home.StateFile(w.rig.name) }
func (w *world) outboxFile() string {
	return filepath.Join(w.home.StateDir, "council-"+w.rig.name+".outbox.json")
}
func (w *world) lockFile() string {
	return filepath.Join(w.home.StateDir, "council-"+w.rig.name+".lock")
}
func (w *world) launchAgents() string { return filepath.Join(w.home.Dir, "Library", "LaunchAgents") }

// environ is the probe's environment: its service manager's, Force
// Flow's, and the cell's.
func (w *world) environ() []string {
	mgr := w.ld.Env()
	if w.rig.systemd {
		mgr = w.sd.Env()
	}
	env := w.home.Env(append(mgr, "FORCE_FLOW_URL="+w.ff.URL())...)
	return append(env, w.env...)
}

// argv is the full command line of one tick.
func (w *world) argv() []string {
	return append(append(append([]string(nil), w.wrap...), w.bin), w.args...)
}

// tick runs one tick of the probe.
func (w *world) tick() probetest.Result {
	w.t.Helper()
	argv := w.argv()
	res := probetest.Run(w.t, runTimeout, w.environ(), argv[0], argv[1:]...)
	w.outs = append(w.outs, res.Stdout, res.Stderr)
	return res
}

// events are the probe's events so far.
func (w *world) events() []map[string]any {
	w.t.Helper()
	if _, err := os.Stat(w.logFile()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return probetest.Events(w.t, w.logFile())
}

// outbox returns the spooled notices.
func (w *world) outbox() []alert.Pending {
	w.t.Helper()
	data, err := os.ReadFile(w.outboxFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	var ob alert.Outbox
	if err := json.Unmarshal(data, &ob); err != nil {
		w.t.Fatalf("outbox %s: %v", w.outboxFile(), err)
	}
	return ob.Entries
}

func spooledFor(entries []alert.Pending, check string) int {
	n := 0
	for _, e := range entries {
		if matchCheck(check, e.Notice.Check) {
			n++
		}
	}
	return n
}

// hangServer accepts connections and never answers: a council that hangs
// before the first byte. accepted receives once per connection, so a test
// knows the probe is mid-request.
func hangServer(t *testing.T) (url string, accepted <-chan struct{}) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + l.Addr().String(), ch
}

// sigtermTick starts a tick, waits until it is inside a request to a
// server that never answers, sends SIGTERM and returns how it ended.
func (w *world) sigtermTick(accepted <-chan struct{}) probetest.Result {
	return w.sigtermWhen("reached the server", func(int) bool {
		select {
		case <-accepted:
			return true
		default:
			return false
		}
	})
}

// sigtermWhen starts a tick, polls ready with the probe's pid until the
// tick is where the signal is due (what names that place, for a failure),
// sends SIGTERM and returns how the tick ended.
func (w *world) sigtermWhen(what string, ready func(pid int) bool) probetest.Result {
	w.t.Helper()
	argv := w.argv()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = w.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(runTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !ready(cmd.Process.Pid) {
		select {
		case <-tick.C:
		case err := <-done:
			w.t.Fatalf("the tick ended before it %s: %v\nstdout: %s\nstderr: %s", what, err, out.String(), errb.String())
		case <-deadline:
			cmd.Process.Kill()
			<-done
			w.t.Fatalf("the tick never %s\nstdout: %s\nstderr: %s", what, out.String(), errb.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		w.t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(runTimeout):
		cmd.Process.Kill()
		<-done
		w.t.Fatalf("the tick did not end after SIGTERM\nstdout: %s\nstderr: %s", out.String(), errb.String())
	}
	res := probetest.Result{Code: cmd.ProcessState.ExitCode(), Stdout: out.String(), Stderr: errb.String()}
	w.outs = append(w.outs, res.Stdout, res.Stderr)
	return res
}

// limitFileSize makes every later tick run under a file-size limit (sh's
// ulimit -f, i.e. RLIMIT_FSIZE) and fills the log past it, so every write
// to the log fails with EFBIG the way it fails with ENOSPC on a full disk,
// while the small state and outbox files still fit.
func (w *world) limitFileSize() {
	w.t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		w.t.Skip("no sh to set a file-size limit with: disk-full cell skipped")
	}
	// 64 blocks: 32 KiB where the unit is 512 bytes, 64 KiB where it is
	// 1024. The log gets 256 KiB of valid event lines, beyond either.
	line := `{"ts":"2026-01-01T00:00:00.000Z","level":"info","event":"prefill","probe":"` + w.rig.name + `"}` + "\n"
	fill := strings.Repeat(line, 256<<10/len(line)+1)
	if err := os.WriteFile(w.logFile(), []byte(fill), 0o600); err != nil {
		w.t.Fatal(err)
	}
	w.wrap = []string{sh, "-c", `ulimit -f 64 && exec "$0" "$@"`}
	// Rotation would move the full log aside and write a fresh one; the
	// point is a log that cannot be written at all.
	w.args = append(w.args, "--log-max-bytes", fmt.Sprint(64<<20))
}

// fallback is the fallback server as it ships: a plist with Disabled=true,
// RunAtLoad=false and KeepAlive, whose program is the simulator on a free
// port.
type fallback struct {
	URL, Plist, PIDFile string
}

const fallbackLabel = "com.sanctum.server-mlx"

// writeFallback writes the fallback's plist at the default path.
func (w *world) writeFallback() fallback {
	w.t.Helper()
	port := probetest.FreePort(w.t)
	fb := fallback{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Plist: filepath.Join(w.launchAgents(), fallbackLabel+".plist"),
		PIDFile: filepath.Join(w.home.Dir, "fallback.pid")}
	args := []string{simBin, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--pid-file", fb.PIDFile}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key><string>` + fallbackLabel + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, a := range args {
		b.WriteString("\t\t<string>" + html.EscapeString(a) + "</string>\n")
	}
	b.WriteString("\t</array>\n\t<key>RunAtLoad</key><false/>\n\t<key>KeepAlive</key><true/>\n\t<key>Disabled</key><true/>\n</dict>\n</plist>\n")
	if err := os.MkdirAll(w.launchAgents(), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(fb.Plist, []byte(b.String()), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return fb
}

// launchctl runs the fake launchctl as an operator would.
func (w *world) launchctl(args ...string) {
	w.t.Helper()
	cmd := exec.Command(launchctlBin, args...)
	cmd.Env = w.home.Env(w.ld.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("launchctl %v: %v\n%s", args, err, out)
	}
}

// domain is the launchd domain of this user.
func domain() string { return fmt.Sprintf("gui/%d", os.Getuid()) }

// leaks checks every output, the files under the home, the alerts Force
// Flow received and the launchctl call log for the planted token.
func (w *world) leaks() []string {
	outs := append([]string(nil), w.outs...)
	if b, err := json.Marshal(w.ff.Alerts()); err == nil {
		outs = append(outs, string(b))
	}
	outs = append(outs, strings.Join(w.ld.Calls(), "\n"))
	if w.sd != nil {
		outs = append(outs, strings.Join(w.sd.Calls(), "\n"))
	}
	return probetest.Leaks(w.home.Dir, outs...)
}

// dumpEvents renders events for a failure message.
func dumpEvents(evs []map[string]any) string {
	var b strings.Builder
	for _, e := range evs {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}
