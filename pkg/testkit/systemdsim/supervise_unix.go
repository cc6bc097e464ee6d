//go:build unix

package systemdsim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/simproc"
)

// systemd is every unit's parent and sees how its main process ends; the
// simulation is not (each fake-systemctl invocation exits), so it starts
// each unit under a supervisor, this same binary run as
//
//	fake-systemctl __supervise <state> <unit> <generation> <config JSON>
//
// in a session of its own. The supervisor starts the unit's main process
// in a process group of its own, hands its pid back on fd 3, copies its
// output into the journal, waits for it, and then does what systemd does:
// records how it ended and, by Restart=, starts it again after RestartSec
// (within the start limit). A stop by hand bumps the unit's generation
// before it signals the process: the superseded supervisor then records
// nothing and exits.

// superviseVerb is the hidden first argument of a supervisor.
const superviseVerb = "__supervise"

// SupervisorPath is the fake-systemctl binary that can run as a
// supervisor (fake-systemctl's main sets it to itself). Empty: a unit
// cannot be started.
var SupervisorPath string

// errSuperseded: a stop or start by hand replaced this supervisor's run.
var errSuperseded = errors.New("superseded")

// spawnSupervisor starts u's supervisor and returns the main process's
// pid and the supervisor's.
func spawnSupervisor(statePath string, u *Unit) (pid, supervisor int, err error) {
	if SupervisorPath == "" {
		return 0, 0, errors.New("no supervisor (fake-systemctl's path is not known)")
	}
	cfg, err := json.Marshal(u.Config)
	if err != nil {
		return 0, 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return 0, 0, err
	}
	defer devnull.Close()
	sup := &exec.Cmd{
		Path: SupervisorPath,
		Args: []string{SupervisorPath, superviseVerb, statePath, u.Name, strconv.Itoa(u.Generation), string(cfg)},
		Dir:  "/", Env: os.Environ(), Stdin: devnull, Stdout: devnull, Stderr: devnull,
		ExtraFiles: []*os.File{w}, SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = sup.Start()
	w.Close()
	if err != nil {
		return 0, 0, err
	}
	supervisor = sup.Process.Pid
	sup.Process.Release()
	line, _ := bufio.NewReader(io.LimitReader(r, 512)).ReadString('\n')
	line = strings.TrimSpace(line)
	pid, perr := strconv.Atoi(line)
	if perr != nil || pid <= 0 {
		simproc.WaitDead(supervisor, 2*time.Second)
		return 0, 0, errors.New(strings.TrimPrefix(line, "error "))
	}
	return pid, supervisor, nil
}

// supervise is the supervisor's main: args are <state> <unit>
// <generation> <config JSON>.
func supervise(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "fake systemctl: __supervise <state> <unit> <generation> <config>")
		return 64
	}
	statePath, unit := args[0], args[1]
	gen, err := strconv.Atoi(args[2])
	var cfg Config
	if err == nil {
		err = json.Unmarshal([]byte(args[3]), &cfg)
	}
	report := os.NewFile(3, "pid")
	if err != nil || len(cfg.ExecStart) == 0 {
		fmt.Fprintf(report, "error bad supervisor arguments: %v\n", err)
		return 64
	}
	run, err := startMain(statePath, unit, &cfg)
	if err != nil {
		fmt.Fprintf(report, "error %v\n", err)
		report.Close()
		return 1
	}
	fmt.Fprintf(report, "%d\n", run.cmd.Process.Pid)
	report.Close()
	for run != nil {
		run = supervisedRun(statePath, unit, gen, &cfg, run)
	}
	return 0
}

// mainRun is one run of a unit's main process and the copy of its output.
type mainRun struct {
	cmd    *exec.Cmd
	copied chan struct{}
}

// supervisedRun waits for run to end, records it, and returns the next run
// when Restart= calls for one (nil when the supervisor is done).
func supervisedRun(statePath, unit string, gen int, cfg *Config, run *mainRun) *mainRun {
	run.cmd.Wait()
	select {
	case <-run.copied:
	case <-time.After(2 * time.Second): // a grandchild holds the output pipe
	}
	if superseded(statePath, unit, gen) {
		return nil
	}
	code, status := exitOf(run.cmd.ProcessState)
	restart := false
	err := withState(statePath, func(st *State) error {
		u := st.Units[unit]
		if u == nil || u.Generation != gen {
			return errSuperseded
		}
		recordDeath(statePath, u, code, status)
		restart = shouldRestart(cfg.Restart, u.Result)
		u.MainPID = 0
		switch {
		case restart:
			u.ActiveState, u.SubState = "activating", "auto-restart"
		case u.Result == "success":
			u.ActiveState, u.SubState, u.Supervisor = "inactive", "dead", 0
			journal(statePath, unit, unit+": Deactivated successfully.")
		default:
			u.ActiveState, u.SubState, u.Supervisor = "failed", "failed", 0
		}
		return nil
	})
	if err != nil || !restart {
		return nil
	}
	for end := time.Now().Add(cfg.RestartDelay); time.Now().Before(end); {
		time.Sleep(min(20*time.Millisecond, time.Until(end)))
		if superseded(statePath, unit, gen) {
			return nil
		}
	}
	var next *mainRun
	withState(statePath, func(st *State) error {
		u := st.Units[unit]
		if u == nil || u.Generation != gen {
			return errSuperseded
		}
		u.NRestarts++
		journal(statePath, unit, fmt.Sprintf("%s: Scheduled restart job, restart counter is at %d.", unit, u.NRestarts))
		journal(statePath, unit, "Stopped "+describe(u)+".")
		if limited(u, time.Now()) {
			refuseStart(statePath, u)
			return nil
		}
		u.Starts = append(u.Starts, time.Now())
		u.Result, u.ExecMainCode, u.ExecMainStatus = "success", 0, 0
		r, err := startMain(statePath, unit, cfg)
		if err != nil {
			u.ActiveState, u.SubState, u.Supervisor = "failed", "failed", 0
			u.Result, u.ExecMainCode, u.ExecMainStatus = "exit-code", codeExited, 203
			journal(statePath, unit, unit+": Main process exited, code=exited, status=203/EXEC")
			journal(statePath, unit, unit+": Failed with result 'exit-code'.")
			return nil
		}
		u.MainPID, u.ExecMainStartMono = r.cmd.Process.Pid, monotonicMicros()
		u.ActiveState, u.SubState = "active", "running"
		journal(statePath, unit, "Started "+describe(u)+".")
		next = r
		return nil
	})
	return next
}

// superseded reads the state without the lock (it is written atomically):
// has a stop or start by hand replaced generation gen? A state that does
// not show gen yet is the invocation that started it still holding the
// lock: not superseded (the caller checks again under the lock). A stop
// writes the next generation before it signals, so a supervisor whose
// process it stopped always sees it here, and never waits for the lock
// the stopper holds.
func superseded(statePath, unit string, gen int) bool {
	st, err := ReadState(statePath)
	if err != nil {
		return false
	}
	u := st.Units[unit]
	return u != nil && u.Generation > gen
}

// exitOf is how a process ended: ExecMainCode and ExecMainStatus.
func exitOf(ps *os.ProcessState) (code, status int) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return codeExited, 255
	case ws.Signaled() && ws.CoreDump():
		return 3, int(ws.Signal())
	case ws.Signaled():
		return codeKilled, int(ws.Signal())
	}
	return codeExited, ws.ExitStatus()
}

// cleanSignals end a service cleanly (systemd.service(5),
// SuccessExitStatus=).
var cleanSignals = map[int]bool{int(syscall.SIGHUP): true, int(syscall.SIGINT): true, int(syscall.SIGTERM): true, int(syscall.SIGPIPE): true}

// recordDeath records how u's main process ended, in systemd's words.
func recordDeath(statePath string, u *Unit, code, status int) {
	u.ExecMainCode, u.ExecMainStatus = code, status
	switch {
	case code == codeExited && status == 0, code == codeKilled && cleanSignals[status]:
		u.Result = "success"
	case code == codeExited:
		u.Result = "exit-code"
	case code == codeKilled:
		u.Result = "signal"
	default:
		u.Result = "core-dump"
	}
	if u.Result == "success" {
		return
	}
	word := map[int]string{codeExited: "exited", codeKilled: "killed", 3: "dumped"}[code]
	journal(statePath, u.Name, fmt.Sprintf("%s: Main process exited, code=%s, status=%d/%s", u.Name, word, status, statusName(code, status)))
	journal(statePath, u.Name, fmt.Sprintf("%s: Failed with result '%s'.", u.Name, u.Result))
}

// statusName is systemd's short name of an exit status or signal
// ("FAILURE", "SEGV").
func statusName(code, status int) string {
	if code != codeExited {
		return strings.TrimPrefix(signalName(status), "SIG")
	}
	names := map[int]string{1: "FAILURE", 2: "INVALIDARGUMENT", 3: "NOTIMPLEMENTED", 4: "NOPERMISSION",
		5: "NOTINSTALLED", 6: "NOTCONFIGURED", 7: "NOTRUNNING", 203: "EXEC"}
	if n, ok := names[status]; ok {
		return n
	}
	return "n/a"
}

func signalName(n int) string {
	s := syscall.Signal(n).String()
	names := map[syscall.Signal]string{syscall.SIGSEGV: "SIGSEGV", syscall.SIGABRT: "SIGABRT", syscall.SIGKILL: "SIGKILL",
		syscall.SIGTERM: "SIGTERM", syscall.SIGBUS: "SIGBUS", syscall.SIGILL: "SIGILL", syscall.SIGFPE: "SIGFPE",
		syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGPIPE: "SIGPIPE", syscall.SIGQUIT: "SIGQUIT",
		syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2"}
	if name, ok := names[syscall.Signal(n)]; ok {
		return name
	}
	return s
}

// shouldRestart applies Restart= to a death with result (systemd.service(5),
// "Exit causes and the effect of the Restart= settings"; timeouts and the
// watchdog are not simulated).
func shouldRestart(policy, result string) bool {
	switch policy {
	case "always":
		return true
	case "on-success":
		return result == "success"
	case "on-failure":
		return result != "success"
	case "on-abnormal", "on-abort":
		return result == "signal" || result == "core-dump"
	}
	return false
}

// startMain starts the unit's main process with its own environment (not
// the caller's), in a process group of its own, its output to the journal
// or to its StandardOutput=/StandardError= files.
func startMain(statePath, unit string, cfg *Config) (*mainRun, error) {
	argv := cfg.ExecStart
	prog := argv[0]
	if !filepath.IsAbs(prog) {
		p, err := exec.LookPath(prog)
		if err != nil {
			return nil, err
		}
		prog = p
	}
	home := os.Getenv("HOME")
	cmd := &exec.Cmd{Path: prog, Args: argv, Dir: cfg.WorkingDir}
	if cmd.Dir == "" {
		cmd.Dir = home
	}
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home}
	for k, v := range cfg.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	cmd.Stdin = devnull
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cmd.Stdout, cmd.Stderr = w, w
	for _, f := range []struct {
		path string
		to   *io.Writer
	}{{cfg.StdoutFile, &cmd.Stdout}, {cfg.StderrFile, &cmd.Stderr}} {
		if f.path == "" {
			continue
		}
		out, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			r.Close()
			return nil, err
		}
		defer out.Close()
		*f.to = out
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, err
	}
	run := &mainRun{cmd: cmd, copied: make(chan struct{})}
	go func() {
		defer close(run.copied)
		defer r.Close()
		copyOutput(statePath, unit, r)
	}()
	return run, nil
}

// kill stops u's main process (SIGTERM to its process group, SIGKILL after
// 3 s) and waits for its superseded supervisor to go (SIGKILL after 2 s).
func kill(u *Unit) {
	if pid := u.MainPID; pid > 0 {
		simproc.SignalGroup(pid, syscall.SIGTERM)
		if !simproc.WaitDead(pid, 3*time.Second) {
			simproc.SignalGroup(pid, syscall.SIGKILL)
			simproc.WaitDead(pid, 2*time.Second)
		}
	}
	if sup := u.Supervisor; sup > 0 && !simproc.WaitDead(sup, 2*time.Second) {
		syscall.Kill(sup, syscall.SIGKILL)
		simproc.WaitDead(sup, 2*time.Second)
	}
}
