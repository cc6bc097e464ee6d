//go:build unix

package launchdsim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
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
			waitDead(supervisor, 2*time.Second)
		}
	}()
	signal(pid, syscall.SIGTERM)
	svc.LastSignal = "Terminated: 15"
	if waitDead(pid, 3*time.Second) {
		return
	}
	signal(pid, syscall.SIGKILL)
	svc.LastSignal = "Killed: 9"
	waitDead(pid, 2*time.Second)
}

func signal(pid int, sig syscall.Signal) {
	// The program leads its own session, so its group id is its pid.
	if err := syscall.Kill(-pid, sig); err != nil {
		syscall.Kill(pid, sig)
	}
}

func waitDead(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return !alive(pid)
}

// alive reports whether pid runs. A zombie counts as dead: the fake is
// not the parent, so on a system whose init does not reap promptly a dead
// program can linger as one.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, rerr := os.ReadFile(fmt.Sprintf("/proc/%s/stat", strconv.Itoa(pid)))
	if rerr != nil {
		return true // no procfs (macOS): trust kill(0)
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
