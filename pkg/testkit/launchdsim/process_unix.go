//go:build unix

package launchdsim

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/simproc"
)

// start runs svc's program detached, in its own session, with launchd's
// environment rather than the caller's. A program that cannot be started
// is recorded as launchd records it: not running, last exit code 78.
func start(svc *Service) {
	svc.Runs++
	pid, supervisor, err := spawn(svc)
	if err != nil {
		svc.PID = 0
		svc.LastExit = "78: EX_CONFIG"
		svc.LastSignal = ""
		return
	}
	svc.PID, svc.Supervisor = pid, supervisor
}

func spawn(svc *Service) (pid, supervisor int, err error) {
	prog := svc.Program
	if !filepath.IsAbs(prog) {
		p, err := exec.LookPath(prog)
		if err != nil {
			return 0, 0, err
		}
		prog = p
	}
	argv := svc.Args
	if len(argv) == 0 {
		argv = []string{prog}
	}
	cmd := &exec.Cmd{Path: prog, Args: argv, Dir: svc.WorkingDir}
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Env = []string{
		"PATH=/usr/bin:/bin:/usr/sbin:/sbin",
		"HOME=" + os.Getenv("HOME"),
		"XPC_SERVICE_NAME=" + svc.Label,
	}
	for k, v := range svc.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, err
	}
	defer devnull.Close()
	cmd.Stdin = devnull
	cmd.Stdout, cmd.Stderr = devnull, devnull
	if svc.StdoutPath != "" {
		f, err := os.OpenFile(svc.StdoutPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return 0, 0, err
		}
		defer f.Close()
		cmd.Stdout = f
	}
	if svc.StderrPath != "" {
		f, err := os.OpenFile(svc.StderrPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return 0, 0, err
		}
		defer f.Close()
		cmd.Stderr = f
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if SupervisorPath != "" && exitDir != "" {
		return spawnSupervised(cmd)
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	// Not waited for: like launchd's jobs it outlives this invocation.
	pid = cmd.Process.Pid
	cmd.Process.Release()
	return pid, 0, nil
}

// stop sends SIGTERM to the service's process group, then SIGKILL if it
// has not gone after 3 s (launchd waits its ExitTimeOut, 20 s by default;
// the fake is quicker, to keep tests fast).
func stop(svc *Service) {
	pid, supervisor := svc.PID, svc.Supervisor
	svc.PID, svc.Supervisor = 0, 0
	if pid <= 0 {
		return
	}
	// The supervisor writes the program's exit file once it has died:
	// wait for that too, so nothing writes into the state's directory
	// after a stop returns (a test's cleanup removes it next).
	defer func() {
		if supervisor > 0 {
			simproc.WaitDead(supervisor, 2*time.Second)
		}
	}()
	simproc.SignalGroup(pid, syscall.SIGTERM)
	svc.LastSignal = "Terminated: 15"
	if simproc.WaitDead(pid, 3*time.Second) {
		return
	}
	simproc.SignalGroup(pid, syscall.SIGKILL)
	svc.LastSignal = "Killed: 9"
	simproc.WaitDead(pid, 2*time.Second)
}
