//go:build unix

package launchdsim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	ossignal "os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/simproc"
)

// The fake is not the parent of the programs it starts, so on its own it
// cannot know how one ended. launchd can: it is every job's parent, and
// `launchctl print` shows "last exit code" or "last terminating signal".
// To report the same, the fake starts each program under a small
// supervisor: this same fake-launchctl binary run as
//
//	fake-launchctl __supervise <exit-file> <program> <argv...>
//
// which starts the program, hands its pid back on fd 3, waits for it and
// writes "exit N" or "signal N" to <exit-file>. The recorded pid is the
// program's, so what a probe measures (its CPU, its executable) is the
// program's, as under launchd.

// superviseVerb is the hidden first argument of a supervisor.
const superviseVerb = "__supervise"

// SupervisorPath is the fake-launchctl binary that can run as a
// supervisor (fake-launchctl's main sets it to itself). Empty: programs
// are started directly and their exit status stays unknown.
var SupervisorPath string

// exitDir holds the supervisors' exit files: <state file>.exits.
var exitDir string

// supervise is the supervisor's main: args are <exit-dir> <program>
// <argv...>. It exits 0 once the program's status is written to
// <exit-dir>/<program's pid>.
func supervise(args []string) int {
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "fake launchctl: __supervise <exit-dir> <program> <argv...>")
		return 64
	}
	dir, prog, argv := args[0], args[1], args[2:]
	// The fake stops a job by signalling its process group, the
	// supervisor included: it must outlive the program to record how it
	// ended. Caught, not ignored: an ignored signal would be inherited.
	ossignal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	cmd := &exec.Cmd{Path: prog, Args: argv, Env: os.Environ(), Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	report := os.NewFile(3, "pid")
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(report, "error %v\n", err)
		report.Close()
		return 1
	}
	path := filepath.Join(dir, strconv.Itoa(cmd.Process.Pid))
	os.Remove(path) // a stale status of an earlier process with this pid
	fmt.Fprintf(report, "%d\n", cmd.Process.Pid)
	report.Close()
	cmd.Wait()
	status := "exit -1"
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		switch {
		case ws.Signaled():
			status = fmt.Sprintf("signal %d", int(ws.Signal()))
		case ws.Exited():
			status = fmt.Sprintf("exit %d", ws.ExitStatus())
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(status+"\n"), 0o600); err == nil {
		os.Rename(tmp, path)
	}
	return 0
}

// spawnSupervised starts the program of cmd (prepared by spawn) under a
// supervisor and returns the program's pid and the supervisor's.
func spawnSupervised(cmd *exec.Cmd) (pid, supervisor int, err error) {
	if err := os.MkdirAll(exitDir, 0o700); err != nil {
		return 0, 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	sup := &exec.Cmd{
		Path: SupervisorPath, Args: append([]string{SupervisorPath, superviseVerb, exitDir, cmd.Path}, cmd.Args...),
		Dir: cmd.Dir, Env: cmd.Env, Stdin: cmd.Stdin, Stdout: cmd.Stdout, Stderr: cmd.Stderr,
		ExtraFiles: []*os.File{w}, SysProcAttr: cmd.SysProcAttr,
	}
	err = sup.Start()
	w.Close()
	if err != nil {
		return 0, 0, err
	}
	supervisor = sup.Process.Pid
	sup.Process.Release()
	line, _ := bufio.NewReader(io.LimitReader(r, 512)).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if perr != nil || pid <= 0 {
		return 0, 0, fmt.Errorf("supervisor: %q", strings.TrimSpace(line))
	}
	return pid, supervisor, nil
}

// lastStatus returns how the supervised program pid ended, waiting a
// little for its supervisor to write it down; ok is false when unknown.
func lastStatus(pid, supervisor int) (n int, isSignal, ok bool) {
	if supervisor <= 0 || exitDir == "" {
		return 0, false, false
	}
	path := filepath.Join(exitDir, strconv.Itoa(pid))
	var b []byte
	var err error
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err = os.ReadFile(path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			break
		}
		if !simproc.Alive(supervisor) {
			b, err = os.ReadFile(path) // it may have written just now
			break
		}
	}
	os.Remove(path)
	if err != nil {
		return 0, false, false
	}
	kind, num, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	n, err = strconv.Atoi(num)
	if err != nil || (kind != "signal" && kind != "exit") {
		return 0, false, false
	}
	return n, kind == "signal", true
}

// signalText is launchctl's text for a terminating signal, as macOS's
// strsignal words it ("Segmentation fault: 11"); the number is this
// system's.
func signalText(n int) string {
	names := map[syscall.Signal]string{
		syscall.SIGSEGV: "Segmentation fault", syscall.SIGABRT: "Abort trap", syscall.SIGBUS: "Bus error",
		syscall.SIGKILL: "Killed", syscall.SIGTERM: "Terminated", syscall.SIGILL: "Illegal instruction",
		syscall.SIGFPE: "Floating point exception", syscall.SIGINT: "Interrupt", syscall.SIGHUP: "Hangup",
	}
	name, ok := names[syscall.Signal(n)]
	if !ok {
		name = syscall.Signal(n).String()
		if name != "" {
			name = strings.ToUpper(name[:1]) + name[1:]
		}
	}
	return fmt.Sprintf("%s: %d", name, n)
}
