package realollama

import (
	"bytes"
	"context"
	"fmt"
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

	"howett.net/plist"

	"github.com/sanctum/council-probes/pkg/host/paths"
	"github.com/sanctum/council-probes/pkg/testkit/launchdsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// Server is one running `ollama serve` on a loopback port, with its own
// home and model store under Dir. Start runs it as a child of the test;
// StartSupervised runs it as a launchd job of the fake launchd, the way
// the probes find the primary on the council host.
type Server struct {
	// Bin is the ollama binary.
	Bin string
	// URL is the server's base URL, http://127.0.0.1:<port>.
	URL string
	// Host is host:port, Ollama's OLLAMA_HOST.
	Host string
	// Dir holds the server's HOME (home/), model store (models/) and the
	// generated GGUF files (gguf/).
	Dir string
	// Log is the file the server's stdout and stderr go to: Ollama's
	// [GIN] access lines (stdout) and its slog lines (stderr, e.g.
	// msg="truncating input prompt"). Point a probe's --primary-log at it.
	Log string
	// Label and Plist are the launchd job (StartSupervised only).
	Label, Plist string

	t   testing.TB
	env []string // the server's environment: also what the ollama CLI needs
	cmd *exec.Cmd
	ld  *probetest.Launchd
	// home is the fake launchd's caller home (StartSupervised only).
	home *probetest.Home
}

// Options configures a server.
type Options struct {
	// Env adds to the server's environment, e.g. "OLLAMA_KEEP_ALIVE=10s",
	// "OLLAMA_NUM_PARALLEL=1", "OLLAMA_CONTEXT_LENGTH=512".
	Env []string
	// Log is the path of the server's log; default Dir/ollama.log.
	Log string
	// Label is the launchd label (StartSupervised; default
	// com.sanctum.mlx, the probes' default primary).
	Label string
	// KeepAlive makes the launchd job KeepAlive (StartSupervised): the
	// fake launchd restarts it when it dies, as launchd would.
	KeepAlive bool
}

// DefaultLabel is the primary's launchd label the probes default to.
const DefaultLabel = "com.sanctum.mlx"

// startTimeout bounds how long a server may take to answer: Ollama
// discovers its compute devices (a runner it starts and stops) first.
const startTimeout = 90 * time.Second

// newServer lays out a server's directory and environment.
func newServer(t testing.TB, bin string, opts Options) *Server {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"home", "models", "gguf"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	host := fmt.Sprintf("127.0.0.1:%d", probetest.FreePort(t))
	s := &Server{Bin: bin, URL: "http://" + host, Host: host, Dir: dir, Log: opts.Log, t: t}
	if s.Log == "" {
		s.Log = filepath.Join(dir, "ollama.log")
	}
	s.env = append([]string{
		"HOME=" + filepath.Join(dir, "home"),
		"OLLAMA_HOST=" + host,
		"OLLAMA_MODELS=" + filepath.Join(dir, "models"),
		// Nothing reaches ollama.com: no cloud models, no sign-in.
		"OLLAMA_NO_CLOUD=1",
	}, opts.Env...)
	return s
}

// Start runs `ollama serve` as a child of the test, in its own process
// group, and waits until it answers. Cleanup stops it with SIGTERM (Ollama
// then stops its runners), SIGKILLs the group if that takes more than 10
// seconds, and kills any runner left behind.
func Start(t testing.TB, bin string, opts Options) *Server {
	t.Helper()
	s := newServer(t, bin, opts)
	logf, err := os.OpenFile(s.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, s.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ollama serve: %v", err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		kids := s.descendants(cmd.Process.Pid)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		s.killLeftovers(kids)
	})
	s.waitServing(func() error {
		select {
		case <-exited:
			return fmt.Errorf("ollama serve exited: %v", cmd.ProcessState)
		default:
			return nil
		}
	})
	return s
}

// StartSupervised runs `ollama serve` as the launchd job opts.Label
// (com.sanctum.mlx by default) of the fake launchd ld: it writes the job's
// plist into home's ~/Library/LaunchAgents (ProgramArguments ollama serve,
// the server's environment in EnvironmentVariables, stdout and stderr to
// Log), bootstraps it with RunAtLoad and waits until it answers. The
// probes then see a real process tree as the primary: launchctl print
// gives the pid of `ollama serve`, whose child `ollama runner` does the
// work. A guardian's kickstart -k restarts it for real. Cleanup boots it
// out (and kills any runner left behind); ld's own cleanup stops whatever
// the fake launchd still runs.
func StartSupervised(t testing.TB, bin string, ld *probetest.Launchd, home *probetest.Home, opts Options) *Server {
	t.Helper()
	s := newServer(t, bin, opts)
	s.ld, s.home = ld, home
	s.Label = opts.Label
	if s.Label == "" {
		s.Label = DefaultLabel
	}
	agents := paths.Home(home.Dir).LaunchAgents()
	if err := os.MkdirAll(agents, 0o700); err != nil {
		t.Fatal(err)
	}
	s.Plist = filepath.Join(agents, s.Label+".plist")
	env := map[string]string{}
	for _, kv := range s.env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	job := struct {
		Label                string            `plist:"Label"`
		ProgramArguments     []string          `plist:"ProgramArguments"`
		EnvironmentVariables map[string]string `plist:"EnvironmentVariables"`
		StandardOutPath      string            `plist:"StandardOutPath"`
		StandardErrorPath    string            `plist:"StandardErrorPath"`
		RunAtLoad            bool              `plist:"RunAtLoad"`
		KeepAlive            bool              `plist:"KeepAlive"`
	}{s.Label, []string{bin, "serve"}, env, s.Log, s.Log, true, opts.KeepAlive}
	data, err := plist.MarshalIndent(job, plist.XMLFormat, "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Plist, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kids := s.descendants(s.CurrentPID())
		s.launchctl("bootout", fmt.Sprintf("gui/%d/%s", os.Getuid(), s.Label))
		s.killLeftovers(kids)
	})
	if out, err := s.launchctl("bootstrap", fmt.Sprintf("gui/%d", os.Getuid()), s.Plist); err != nil {
		t.Fatalf("launchctl bootstrap %s: %v\n%s", s.Plist, err, out)
	}
	s.waitServing(func() error {
		if s.CurrentPID() == 0 {
			return fmt.Errorf("the fake launchd runs no process for %s", s.Label)
		}
		return nil
	})
	return s
}

// launchctl runs the fake launchctl as the test's operator would.
func (s *Server) launchctl(args ...string) ([]byte, error) {
	cmd := exec.Command(s.ld.Path, args...)
	cmd.Env = s.home.Env(s.ld.Env()...)
	return cmd.CombinedOutput()
}

// Env is the environment the ollama CLI needs to talk to this server
// (OLLAMA_HOST and the server's HOME), with PATH.
func (s *Server) Env() []string {
	return append([]string{"PATH=" + os.Getenv("PATH")}, s.env...)
}

// PID is the pid of `ollama serve`: the child's, or the one the fake
// launchd records for the job (it changes when the job is restarted). It
// fails the test when none runs.
func (s *Server) PID() int {
	s.t.Helper()
	pid := s.CurrentPID()
	if pid == 0 {
		s.t.Fatalf("ollama serve (%s) is not running", s.URL)
	}
	return pid
}

// CurrentPID is the pid of `ollama serve` now, or 0 when it is not
// running (a supervised server between a stop and its restart).
func (s *Server) CurrentPID() int {
	if s.cmd != nil {
		return s.cmd.Process.Pid
	}
	st, err := launchdsim.ReadState(s.ld.StateFile)
	if err != nil {
		return 0
	}
	if svc, ok := st.Services[s.Label]; ok {
		return svc.PID
	}
	return 0
}

// Runners returns the pids of the server's `ollama runner` children: the
// processes that load the model and do the work (one per loaded model,
// plus a short-lived one while the server discovers its devices).
func (s *Server) Runners() []int {
	var pids []int
	for _, pid := range s.descendants(s.CurrentPID()) {
		if args := cmdline(pid); len(args) > 1 && args[1] == "runner" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitServing waits until the server answers, failing the test (with the
// log's tail) when alive reports it gone or startTimeout passes.
func (s *Server) waitServing(alive func() error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		if err := alive(); err != nil {
			s.t.Fatalf("ollama serve on %s: %v\nlog tail:\n%s", s.URL, err, s.LogTail(40))
		}
		if err := s.WaitReady(ctx); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("ollama serve on %s did not answer /api/version within %s\nlog tail:\n%s", s.URL, startTimeout, s.LogTail(40))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitReady polls GET /api/version until it answers 200 or ctx ends.
func (s *Server) WaitReady(ctx context.Context) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/version", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /api/version: HTTP %d", resp.StatusCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %v)", s.URL, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitDown waits until the server's port refuses connections.
func (s *Server) WaitDown(ctx context.Context) error {
	for {
		c, err := net.DialTimeout("tcp", s.Host, time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s still accepts connections: %w", s.URL, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// LogTail is the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.Log)
	if err != nil {
		return fmt.Sprintf("(log %s: %v)", s.Log, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// descendants returns the pids of every process below pid (Linux /proc;
// none elsewhere).
func (s *Server) descendants(pid int) []int {
	if pid <= 0 {
		return nil
	}
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := ppid(p); ok {
			parent[p] = pp
		}
	}
	var out []int
	frontier := []int{pid}
	for len(frontier) > 0 {
		next := frontier[0]
		frontier = frontier[1:]
		for p, pp := range parent {
			if pp == next {
				out = append(out, p)
				frontier = append(frontier, p)
			}
		}
	}
	return out
}

// killLeftovers SIGKILLs what is left of this server: the given pids if
// they still run its binary, and any process of its binary whose
// arguments name its directory. A runner outlives a server killed with
// SIGKILL (it is orphaned, not stopped), and its argv names the model
// blob under Dir/models.
func (s *Server) killLeftovers(pids []int) {
	for _, pid := range pids {
		if args := cmdline(pid); len(args) > 0 && args[0] == s.Bin {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args := cmdline(pid)
		if len(args) == 0 || args[0] != s.Bin {
			continue
		}
		for _, a := range args[1:] {
			if strings.HasPrefix(a, s.Dir+string(filepath.Separator)) {
				syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}

// ppid reads a process's parent from /proc/<pid>/stat.
func ppid(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold spaces: the fields
	// after the last ')' are "state ppid ...".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// cmdline is a process's argv (/proc/<pid>/cmdline), nil when unknown.
func cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}
