package status

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

var statusBin string

// TestMain builds the real council-status binary once for the end-to-end
// tests.
func TestMain(m *testing.M) {
	probetest.RunMain(m,
		probetest.Binary{Out: &statusBin, Pkg: "github.com/sanctum/council-probes/status/cmd/council-status", Name: "council-status"})
}

// cleanEnv is the environment without the settings a developer's shell may
// carry, with HOME pointed at h.
func (h *host) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "COUNCIL_") || strings.HasPrefix(kv, "NO_COLOR=") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "HOME="+h.home), extra...)
}

func TestBinaryFleetTableAndExit(t *testing.T) {
	h := fleet(t)
	res := probetest.Run(t, 20*time.Second, h.env(), statusBin)
	if res.Code != ExitCritical {
		t.Fatalf("exit %d, want 2\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	for _, want := range []string{"guardian      OK", "canary        CRITICAL", "drift         UNKNOWN   4h ago STALE", "integrity     UNKNOWN   never", "fallback lock: ACTIVE"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.Stdout)
		}
	}
	if strings.Contains(res.Stdout, "\x1b[") {
		t.Error("colour on a pipe")
	}
}

func TestBinaryJSONAndFlagsAndEnv(t *testing.T) {
	h := fleet(t)
	tests := []struct {
		name string
		env  []string
		args []string
		want int
	}{
		{"defaults from HOME", nil, []string{"--json"}, ExitCritical},
		{"--probes still shows discovered probes", nil, []string{"--json", "--probes", "guardian", "--fallback-lock", filepath.Join(h.home, "none")}, ExitCritical},
		{"env selects probes and lock", []string{"COUNCIL_STATUS_PROBES=guardian", "COUNCIL_FALLBACK_LOCK=/nonexistent", "COUNCIL_STATUS_JSON=1"}, nil, ExitCritical},
		{"empty state dir", []string{"COUNCIL_STATE_DIR=" + t.TempDir()}, []string{"--json", "--fallback-lock", "/nonexistent"}, ExitUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := probetest.Run(t, 20*time.Second, h.env(tt.env...), statusBin, tt.args...)
			var r Report
			dec := json.NewDecoder(strings.NewReader(res.Stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("stdout is not a Report: %v\n%s", err, res.Stdout)
			}
			if res.Code != tt.want || r.Exit != res.Code {
				t.Errorf("exit %d, report exit %d, want %d", res.Code, r.Exit, tt.want)
			}
		})
	}
	// The healthy probe alone, no lock: OK. Discovered probes (canary,
	// drift, integrity's corrupt file is not a state) still count, so pick
	// a state dir holding only guardian.
	only := newHost(t)
	if code := only.tick(t, "guardian", 30*time.Second, "ok", ""); code != 0 {
		t.Fatal(code)
	}
	res := probetest.Run(t, 20*time.Second, only.env(), statusBin, "--probes", "guardian")
	if res.Code != ExitOK || !strings.Contains(res.Stdout, ": OK") {
		t.Errorf("exit %d\n%s", res.Code, res.Stdout)
	}
}

func TestBinaryHelpAndBadUsage(t *testing.T) {
	h := newHost(t)
	res := probetest.Run(t, 20*time.Second, h.env(), statusBin, "--help")
	for _, want := range []string{"--state-dir", "$COUNCIL_STATE_DIR", filepath.Join(h.home, ".sanctum/state"), "--log-dir", "$COUNCIL_LOG_DIR",
		"--fallback-lock", "$COUNCIL_FALLBACK_LOCK", "--json", "--watch", "--color", "NO_COLOR", "3 UNKNOWN"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	for _, args := range [][]string{{"--no-such"}, {"--color", "sometimes"}, {"extra-arg"}, {"--watch", "-1s"}} {
		res := probetest.Run(t, 20*time.Second, h.env(), statusBin, args...)
		if res.Code != ExitUnknown || res.Stderr == "" {
			t.Errorf("%v: exit %d stderr %q", args, res.Code, res.Stderr)
		}
	}
}

// TestBinaryWatchRefreshesUntilInterrupted runs --watch, sees the table
// follow a change on disk, interrupts it and gets the last state's code.
func TestBinaryWatchRefreshesUntilInterrupted(t *testing.T) {
	h := newHost(t)
	h.tick(t, "guardian", 30*time.Second, "ok", "")
	cmd := exec.Command(statusBin, "--probes", "guardian", "--watch", "100ms", "--json")
	cmd.Env = h.env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	reports := make(chan Report)
	go func() {
		dec := json.NewDecoder(bufio.NewReader(out))
		for {
			var r Report
			if err := dec.Decode(&r); err != nil {
				close(reports)
				io.Copy(io.Discard, out)
				return
			}
			reports <- r
		}
	}()
	next := func() Report {
		select {
		case r, ok := <-reports:
			if !ok {
				t.Fatal("watch stopped printing")
			}
			return r
		case <-time.After(20 * time.Second):
			t.Fatal("no refresh within 20s")
		}
		return Report{}
	}
	if r := next(); r.Exit != ExitOK {
		t.Fatalf("first report exit %d", r.Exit)
	}
	h.tick(t, "guardian", 30*time.Second, "warn", "")
	for r := next(); r.Exit != ExitWarning; r = next() {
	}
	cmd.Process.Signal(syscall.SIGINT)
	go func() {
		for range reports {
		}
	}()
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if code != ExitWarning {
		t.Errorf("exit %d after SIGINT (%v), want the last state's 1", code, err)
	}
}

func TestColourDecision(t *testing.T) {
	h := fleet(t)
	tests := []struct {
		name, color, noColor string
		tty, want            bool
	}{
		{"terminal", "auto", "", true, true},
		{"terminal with NO_COLOR", "auto", "1", true, false},
		{"pipe", "auto", "", false, false},
		{"always on a pipe", "always", "", false, true},
		{"never on a terminal", "never", "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.noColor)
			var out bytes.Buffer
			c := &Command{Stdout: &out, Stderr: io.Discard, Now: time.Now, IsTerminal: func(io.Writer) bool { return tt.tty }}
			c.Run([]string{"council-status", "--state-dir", h.stateDir, "--log-dir", h.logDir, "--fallback-lock", h.lock, "--color", tt.color})
			if got := strings.Contains(out.String(), "\x1b["); got != tt.want {
				t.Errorf("colour = %v, want %v:\n%q", got, tt.want, out.String())
			}
		})
	}
}
