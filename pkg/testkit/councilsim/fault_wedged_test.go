package councilsim_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/proccpu"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

// TestMain doubles as council-sim: COUNCILSIM_TEST_HELPER=1 runs the
// command line, so the process faults are tested on a real process.
func TestMain(m *testing.M) {
	if os.Getenv("COUNCILSIM_TEST_HELPER") != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		code := councilsim.Run(ctx, os.Args, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestParseCrashSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"SEGV": syscall.SIGSEGV, "sigbus": syscall.SIGBUS, "6": syscall.SIGABRT, " ABRT ": syscall.SIGABRT} {
		if got, err := councilsim.ParseCrashSignal(in); err != nil || got != want {
			t.Errorf("ParseCrashSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "NOPE", "0", "999"} {
		if _, err := councilsim.ParseCrashSignal(bad); err == nil {
			t.Errorf("ParseCrashSignal(%q) accepted", bad)
		}
	}
}

// simProcess runs council-sim as its own process (this test binary in
// helper mode) and returns its URLs and the command.
type simProcess struct {
	cmd             *exec.Cmd
	url, controlURL string
	accessLog       string
}

func startSimProcess(t *testing.T, args ...string) *simProcess {
	t.Helper()
	p := &simProcess{accessLog: filepath.Join(t.TempDir(), "access.log")}
	p.cmd = exec.Command(os.Args[0], append([]string{"--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--access-log", p.accessLog}, args...)...)
	p.cmd.Env = append(os.Environ(), "COUNCILSIM_TEST_HELPER=1")
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	sc := bufio.NewScanner(out)
	for (p.url == "" || p.controlURL == "") && sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "COUNCIL_URL="); ok {
			p.url = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "COUNCIL_SIM_CONTROL_URL="); ok {
			p.controlURL = v
		}
	}
	if p.url == "" || p.controlURL == "" {
		t.Fatal("council-sim did not print its URLs")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return p
}

func (p *simProcess) setFault(t *testing.T, f string) {
	t.Helper()
	resp, err := http.Post(p.controlURL+"/fault", "application/json", strings.NewReader(fmt.Sprintf(`{"fault":%q}`, f)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /fault %s: %d", f, resp.StatusCode)
	}
}

func chat(ctx context.Context, url string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions",
		strings.NewReader(`{"messages":[{"role":"user","content":"What is 2+2?"}],"max_tokens":8}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func modelsOK(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/v1/models: %d", resp.StatusCode)
	}
}

// wedge: models fine, chat never answers, and the process uses less CPU
// than the same simulator under busy. Compared, never thresholded.
func TestWedgeAndBusyAsProcesses(t *testing.T) {
	wedged, busy := startSimProcess(t, "--fault", "wedge"), startSimProcess(t, "--slow-delay", "1h")
	busy.setFault(t, "busy")
	modelsOK(t, wedged.url)
	modelsOK(t, busy.url)
	for _, p := range []*simProcess{wedged, busy} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := chat(ctx, p.url)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("chat answered under a wedge/busy fault: %v", err)
		}
	}
	r := proccpu.New()
	uw, err := r.Sample(context.Background(), wedged.cmd.Process.Pid, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ub, err := r.Sample(context.Background(), busy.cmd.Process.Pid, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if ub.CPU <= uw.CPU {
		t.Fatalf("busy used %s, wedged %s", ub.CPU, uw.CPU)
	}
	// Busy answers once the delay has passed.
	busy2 := startSimProcess(t, "--slow-delay", "50ms")
	busy2.setFault(t, "busy")
	if code, err := chat(context.Background(), busy2.url); err != nil || code != 200 {
		t.Fatalf("busy chat after its delay: %d, %v", code, err)
	}
}

// crash: the next chat request writes the crash line to the log and the
// process dies of the chosen signal.
func TestCrashDiesOfItsSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGSEGV, syscall.SIGBUS} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startSimProcess(t, "--crash-signal", fmt.Sprint(int(sig)), "--crash-line", "EngineDeadError: test line")
			modelsOK(t, p.url)
			p.setFault(t, "crash")
			chat(context.Background(), p.url)
			err := p.cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("wait: %v", err)
			}
			ws := ee.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != sig {
				t.Fatalf("ended %v, want killed by %v", ws, sig)
			}
			b, _ := os.ReadFile(p.accessLog)
			if !strings.Contains(string(b), "ERROR EngineDeadError: test line") {
				t.Fatalf("access log:\n%s", b)
			}
		})
	}
}
