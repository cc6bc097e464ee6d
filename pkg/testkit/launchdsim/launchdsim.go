// Package launchdsim is a FAKE launchd, for tests only. launchd does not
// exist on Linux, so the probes' launchctl code is tested against the
// fake-launchctl command built from this package. It reproduces launchd's
// observable behaviour as seen through launchctl, not its implementation:
//
//   - bootstrap gui/<uid> <plist> reads the plist with a real plist parser
//     and loads the label; bootstrapping a label that is already loaded, or
//     one turned off with `launchctl disable`, fails with "Bootstrap
//     failed: 5: Input/output error" and exit 5 (as macOS 14+ does);
//   - bootout of an unknown label fails with "Boot-out failed: 3: No such
//     process" and exit 3; print and kickstart of one fail with "Could not
//     find service" and exit 113;
//   - enable/disable write the override database that print-disabled
//     shows; an override beats the plist's Disabled key, and Disabled is
//     read only at bootstrap: editing a loaded label's plist changes
//     nothing until it is booted out and bootstrapped again;
//   - a disabled label does not start: not at bootstrap, and kickstart
//     fails with `Could not kickstart service "x": 119: Service is
//     disabled`;
//   - RunAtLoad=true starts the program at bootstrap, and so does
//     KeepAlive=true whatever RunAtLoad says (launchd.plist(5): KeepAlive
//     "unconditionally keep[s] the job alive" once it is loaded and
//     enabled; only the disabled state keeps such a job down); kickstart
//     starts it; kickstart -k restarts it; bootout stops it;
//   - the program in ProgramArguments really runs (detached, in its own
//     session, stdio to StandardOutPath/StandardErrorPath or /dev/null, the
//     plist's EnvironmentVariables, not the caller's environment), its pid
//     is recorded and shown by print, and it is sent SIGTERM (then SIGKILL)
//     on bootout and kickstart -k;
//   - KeepAlive is approximated: every invocation first starts every
//     loaded, enabled KeepAlive label that has no running process (one
//     that died, or one enabled since it was loaded disabled);
//   - print and print-disabled write launchctl's real output format.
//
// How a program ended: the fake is not the parent of the processes it
// starts, so it starts each under a supervisor (the fake-launchctl binary
// itself, see supervise_unix.go) that waits for it and records its exit
// code or terminating signal; print shows "last exit code = N" or "last
// terminating signal = Segmentation fault: 11" as launchd does, and
// "(unknown)" when no supervisor ran (SupervisorPath unset).
//
// Environment:
//
//	FAKE_LAUNCHD_STATE  JSON state file (required); a flock on
//	                    <state>.lock serialises concurrent invocations
//	FAKE_LAUNCHD_LOG    if set, every invocation's arguments are appended
//	                    to it, one line each, so tests can assert the
//	                    exact command sequence
//	FAKE_LAUNCHD_FAIL   injected failures, comma separated
//	                    "verb[:label]=mode[-once]" where mode is eio (5:
//	                    Input/output error), eperm (1: Operation not
//	                    permitted) or a number; e.g. "bootstrap=eio-once"
//	FAKE_LAUNCHD_PAUSE  the start of an invocation's arguments, e.g.
//	                    "enable gui/501/com.sanctum.server-mlx": the first
//	                    invocation that starts so (once per state file)
//	                    writes its pid to <state>.paused and waits, before
//	                    doing anything, until that file is removed; then it
//	                    runs as usual. Tests use it to catch a caller in the
//	                    middle of a launchctl step and signal or kill it.
package launchdsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"howett.net/plist"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/lock"
	"github.com/sanctum/council-probes/pkg/testkit/simproc"
)

// Environment variables read by Main.
const (
	EnvState = "FAKE_LAUNCHD_STATE"
	EnvLog   = "FAKE_LAUNCHD_LOG"
	EnvFail  = "FAKE_LAUNCHD_FAIL"
	EnvPause = "FAKE_LAUNCHD_PAUSE"
)

// PauseFile is where a paused invocation (FAKE_LAUNCHD_PAUSE) writes its
// pid; removing it lets the invocation go on.
func PauseFile(statePath string) string { return statePath + ".paused" }

// maxPause bounds a pause nobody releases: the invocation then fails
// without touching the state.
const maxPause = 60 * time.Second

// pause holds an invocation whose arguments start with prefix, the first
// time one does, until PauseFile is removed. It reports false when the
// pause was never released.
func pause(statePath, prefix string, args []string) bool {
	if prefix == "" || !strings.HasPrefix(strings.Join(args, " "), prefix) {
		return true
	}
	used, err := os.OpenFile(statePath+".pause-used", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return true // paused once already (or cannot tell): run as usual
	}
	used.Close()
	file := PauseFile(statePath)
	tmp := file + ".tmp"
	if os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o600) != nil || os.Rename(tmp, file) != nil {
		return true
	}
	deadline := time.Now().Add(maxPause)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// State is the fake launchd's whole state, kept in the JSON state file.
type State struct {
	Services map[string]*Service `json:"services"`
	// Overrides is launchd's override database: label -> disabled.
	Overrides map[string]bool `json:"overrides"`
	// FailUsed records consumed "-once" failure injections.
	FailUsed map[string]bool `json:"fail_used,omitempty"`
}

// Service is a loaded label, with the plist settings read at bootstrap.
type Service struct {
	Label      string            `json:"label"`
	Domain     string            `json:"domain"`
	Path       string            `json:"path"`
	Program    string            `json:"program"`
	Args       []string          `json:"args"`
	WorkingDir string            `json:"working_dir,omitempty"`
	StdoutPath string            `json:"stdout_path,omitempty"`
	StderrPath string            `json:"stderr_path,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	RunAtLoad  *bool             `json:"run_at_load,omitempty"`
	KeepAlive  bool              `json:"keep_alive"`
	// PlistDisabled is the plist's Disabled key as read at bootstrap.
	PlistDisabled bool `json:"plist_disabled"`

	PID int `json:"pid"`
	// Supervisor is the pid of the process that waits for PID and records
	// how it ended (see supervise_unix.go); 0 when started directly.
	Supervisor int    `json:"supervisor,omitempty"`
	Runs       int    `json:"runs"`
	LastExit   string `json:"last_exit,omitempty"` // "" = never exited
	// LastSignal is set when the fake stopped the process.
	LastSignal string `json:"last_signal,omitempty"`
}

// ReadState reads the state file; a missing file is an empty state.
func ReadState(path string) (*State, error) {
	st := &State{}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("fake launchd state %s: %w", path, err)
		}
	}
	if st.Services == nil {
		st.Services = map[string]*Service{}
	}
	if st.Overrides == nil {
		st.Overrides = map[string]bool{}
	}
	if st.FailUsed == nil {
		st.FailUsed = map[string]bool{}
	}
	return st, nil
}

func writeState(path string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o600)
}

// Shutdown stops every process the fake started (tests call it from
// t.Cleanup so nothing outlives them).
func Shutdown(statePath string) error {
	l, err := lock.Acquire(context.Background(), statePath+".lock")
	if err != nil {
		return err
	}
	defer l.Release()
	st, err := ReadState(statePath)
	if err != nil {
		return err
	}
	for _, svc := range st.Services {
		if svc.PID > 0 {
			stop(svc)
		}
	}
	return writeState(statePath, st)
}

// disabled reports launchd's effective disabled state of a loaded service:
// an override wins, else the plist's Disabled key as read at bootstrap.
func (st *State) disabled(svc *Service) bool {
	if d, ok := st.Overrides[svc.Label]; ok {
		return d
	}
	return svc.PlistDisabled
}

// Main is fake-launchctl: args are the arguments after the program name.
// It returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == superviseVerb {
		return supervise(args[1:])
	}
	statePath := os.Getenv(EnvState)
	if statePath == "" {
		fmt.Fprintf(stderr, "fake launchctl: %s is not set (this is a test double, not launchctl)\n", EnvState)
		return 64
	}
	if !pause(statePath, os.Getenv(EnvPause), args) {
		fmt.Fprintf(stderr, "fake launchctl: paused for %s and never released\n", maxPause)
		return 70
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lock.Acquire(ctx, statePath+".lock")
	if err != nil {
		fmt.Fprintf(stderr, "fake launchctl: %v\n", err)
		return 70
	}
	defer l.Release()
	if p := os.Getenv(EnvLog); p != "" {
		if err := appendLine(p, strings.Join(args, " ")); err != nil {
			fmt.Fprintf(stderr, "fake launchctl: log: %v\n", err)
			return 70
		}
	}
	st, err := ReadState(statePath)
	if err != nil {
		fmt.Fprintf(stderr, "fake launchctl: %v\n", err)
		return 70
	}
	exitDir = statePath + ".exits"
	st.reap()
	s := &session{st: st, stdout: stdout, stderr: stderr, fail: os.Getenv(EnvFail)}
	code := s.dispatch(args)
	if err := writeState(statePath, st); err != nil {
		fmt.Fprintf(stderr, "fake launchctl: %v\n", err)
		return 70
	}
	return code
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// reap notices recorded processes that died, and keeps every loaded,
// enabled KeepAlive label running: launchd starts such a job whether its
// process died, it was never started (RunAtLoad=false), or it was loaded
// while disabled and has been enabled since.
func (st *State) reap() {
	for _, svc := range st.Services {
		if svc.PID > 0 && !simproc.Alive(svc.PID) {
			// How it ended, as its supervisor recorded it.
			svc.LastExit, svc.LastSignal = "(unknown)", ""
			if n, isSignal, ok := lastStatus(svc.PID, svc.Supervisor); ok && isSignal {
				svc.LastExit, svc.LastSignal = "", signalText(n)
			} else if ok {
				svc.LastExit = strconv.Itoa(n)
			}
			svc.PID, svc.Supervisor = 0, 0
		}
		// runs counts launchd's own restart; print keeps how the last
		// process ended.
		if svc.PID == 0 && svc.KeepAlive && !st.disabled(svc) {
			start(svc)
		}
	}
}

type session struct {
	st             *State
	stdout, stderr io.Writer
	fail           string
}

func (s *session) errorf(code int, format string, args ...any) int {
	fmt.Fprintf(s.stderr, format+"\n", args...)
	return code
}

func (s *session) dispatch(args []string) int {
	if len(args) == 0 {
		return s.errorf(64, "Usage: launchctl <subcommand> ... | help [subcommand]")
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "print":
		return s.print(rest)
	case "print-disabled":
		return s.printDisabled(rest)
	case "enable", "disable":
		return s.override(verb, rest)
	case "bootstrap":
		return s.bootstrap(rest)
	case "bootout":
		return s.bootout(rest)
	case "kickstart":
		return s.kickstart(rest)
	default:
		return s.errorf(64, "Unrecognized subcommand: %s", verb)
	}
}

// parseDomain accepts gui/<uid>.
func parseDomain(t string) (string, bool) {
	uid, ok := strings.CutPrefix(t, "gui/")
	if !ok || uid == "" {
		return "", false
	}
	if _, err := strconv.Atoi(uid); err != nil {
		return "", false
	}
	return t, true
}

// parseService splits gui/<uid>/<label>.
func parseService(t string) (domain, label string, ok bool) {
	i := strings.LastIndexByte(t, '/')
	if i < 0 {
		return "", "", false
	}
	domain, ok = parseDomain(t[:i])
	label = t[i+1:]
	return domain, label, ok && label != ""
}

// injected returns a failure configured in FAKE_LAUNCHD_FAIL for verb and
// label, consuming "-once" ones.
func (s *session) injected(verb, label string) (code int, msg string, ok bool) {
	for _, item := range strings.Split(s.fail, ",") {
		key, mode, found := strings.Cut(strings.TrimSpace(item), "=")
		if !found {
			continue
		}
		kverb, klabel, _ := strings.Cut(key, ":")
		if kverb != verb || (klabel != "" && klabel != label) {
			continue
		}
		base, once := strings.CutSuffix(mode, "-once")
		if once {
			if s.st.FailUsed[item] {
				continue
			}
			s.st.FailUsed[item] = true
		}
		switch base {
		case "eio":
			return 5, "Input/output error", true
		case "eperm":
			return 1, "Operation not permitted", true
		default:
			if n, err := strconv.Atoi(base); err == nil && n > 0 && n < 256 {
				return n, "Injected failure", true
			}
		}
	}
	return 0, "", false
}

func (s *session) override(verb string, args []string) int {
	if len(args) != 1 {
		return s.errorf(64, "Usage: launchctl %s <service-target>", verb)
	}
	_, label, ok := parseService(args[0])
	if !ok {
		return s.errorf(64, "Unrecognized target specifier.")
	}
	if code, msg, bad := s.injected(verb, label); bad {
		return s.errorf(code, "Could not %s service: %d: %s", verb, code, msg)
	}
	s.st.Overrides[label] = verb == "disable"
	return 0
}

func (s *session) bootstrap(args []string) int {
	if len(args) != 2 {
		return s.errorf(64, "Usage: launchctl bootstrap <domain-target> <service-path>")
	}
	domain, ok := parseDomain(args[0])
	if !ok {
		return s.errorf(64, "Unrecognized target specifier.")
	}
	path := args[1]
	svc, err := readPlist(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s.errorf(2, "Bootstrap failed: 2: No such file or directory")
	}
	if err != nil {
		return s.bootstrapEIO()
	}
	if code, msg, bad := s.injected("bootstrap", svc.Label); bad {
		if code == 5 {
			return s.bootstrapEIO()
		}
		return s.errorf(code, "Bootstrap failed: %d: %s", code, msg)
	}
	if _, loaded := s.st.Services[svc.Label]; loaded {
		return s.bootstrapEIO()
	}
	if s.st.Overrides[svc.Label] {
		// macOS 14+ folds "119: Service is disabled" into EIO here.
		return s.bootstrapEIO()
	}
	svc.Domain = domain
	s.st.Services[svc.Label] = svc
	// KeepAlive starts the job at load whatever RunAtLoad says.
	startsAtLoad := (svc.RunAtLoad != nil && *svc.RunAtLoad) || svc.KeepAlive
	if startsAtLoad && !s.st.disabled(svc) {
		start(svc)
	}
	return 0
}

func (s *session) bootstrapEIO() int {
	return s.errorf(5, "Bootstrap failed: 5: Input/output error\nTry re-running the command as root for richer errors.")
}

func (s *session) bootout(args []string) int {
	var label string
	switch len(args) {
	case 1: // bootout gui/<uid>/<label>
		_, l, ok := parseService(args[0])
		if !ok {
			return s.errorf(64, "Unrecognized target specifier.")
		}
		label = l
	case 2: // bootout gui/<uid> <plist>
		if _, ok := parseDomain(args[0]); !ok {
			return s.errorf(64, "Unrecognized target specifier.")
		}
		svc, err := readPlist(args[1])
		if err != nil {
			return s.errorf(5, "Boot-out failed: 5: Input/output error")
		}
		label = svc.Label
	default:
		return s.errorf(64, "Usage: launchctl bootout <domain-target> [service-path1 service-path2 ...] | <service-target>")
	}
	if code, msg, bad := s.injected("bootout", label); bad {
		return s.errorf(code, "Boot-out failed: %d: %s", code, msg)
	}
	svc, loaded := s.st.Services[label]
	if !loaded {
		return s.errorf(3, "Boot-out failed: 3: No such process")
	}
	if svc.PID > 0 {
		stop(svc)
	}
	delete(s.st.Services, label)
	return 0
}

func (s *session) kickstart(args []string) int {
	kill, printPID := false, false
	var target string
	for _, a := range args {
		switch a {
		case "-k":
			kill = true
		case "-p":
			printPID = true
		case "-s":
		default:
			if target != "" || strings.HasPrefix(a, "-") {
				return s.errorf(64, "Usage: launchctl kickstart [-kp] <service-target>")
			}
			target = a
		}
	}
	_, label, ok := parseService(target)
	if !ok {
		return s.errorf(64, "Unrecognized target specifier.")
	}
	if code, msg, bad := s.injected("kickstart", label); bad {
		return s.errorf(code, "Could not kickstart service %q: %d: %s", label, code, msg)
	}
	svc, loaded := s.st.Services[label]
	if !loaded {
		return s.errorf(113, "Could not find service %q in domain for port", label)
	}
	if s.st.disabled(svc) {
		return s.errorf(119, "Could not kickstart service %q: 119: Service is disabled", label)
	}
	if svc.PID > 0 && kill {
		stop(svc)
	}
	if svc.PID == 0 {
		start(svc)
	}
	if printPID && svc.PID > 0 {
		fmt.Fprintf(s.stdout, "service spawned with pid: %d\n", svc.PID)
	}
	return 0
}

func (s *session) print(args []string) int {
	if len(args) != 1 {
		return s.errorf(64, "Usage: launchctl print <domain-target> | <service-target>")
	}
	domain, label, ok := parseService(args[0])
	if !ok {
		if _, isDomain := parseDomain(args[0]); isDomain {
			return s.errorf(64, "fake launchctl: print of a whole domain is not simulated")
		}
		return s.errorf(64, "Unrecognized target specifier.")
	}
	svc, loaded := s.st.Services[label]
	if !loaded {
		uid := strings.TrimPrefix(domain, "gui/")
		return s.errorf(113, "Bad request.\nCould not find service %q in domain for user gui: %s", label, uid)
	}
	fmt.Fprint(s.stdout, renderPrint(domain, svc))
	return 0
}

func (s *session) printDisabled(args []string) int {
	if len(args) != 1 {
		return s.errorf(64, "Usage: launchctl print-disabled <domain-target>")
	}
	if _, ok := parseDomain(args[0]); !ok {
		return s.errorf(64, "Unrecognized target specifier.")
	}
	fmt.Fprint(s.stdout, renderPrintDisabled(s.st.Overrides))
	return 0
}

// readPlist reads a launchd plist into the settings launchd snapshots at
// bootstrap.
func readPlist(path string) (*Service, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p struct {
		Label                string            `plist:"Label"`
		Program              string            `plist:"Program"`
		ProgramArguments     []string          `plist:"ProgramArguments"`
		WorkingDirectory     string            `plist:"WorkingDirectory"`
		StandardOutPath      string            `plist:"StandardOutPath"`
		StandardErrorPath    string            `plist:"StandardErrorPath"`
		EnvironmentVariables map[string]string `plist:"EnvironmentVariables"`
		RunAtLoad            *bool             `plist:"RunAtLoad"`
		KeepAlive            any               `plist:"KeepAlive"`
		Disabled             bool              `plist:"Disabled"`
	}
	if _, err := plist.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	if p.Label == "" || (p.Program == "" && len(p.ProgramArguments) == 0) {
		return nil, fmt.Errorf("%s: missing Label or program", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	keepAlive := false
	switch v := p.KeepAlive.(type) {
	case bool:
		keepAlive = v
	case map[string]any:
		keepAlive = true // conditional KeepAlive: approximated as always
	}
	program := p.Program
	if program == "" {
		program = p.ProgramArguments[0]
	}
	return &Service{
		Label: p.Label, Path: abs, Program: program, Args: p.ProgramArguments,
		WorkingDir: p.WorkingDirectory, StdoutPath: p.StandardOutPath, StderrPath: p.StandardErrorPath,
		Env: p.EnvironmentVariables, RunAtLoad: p.RunAtLoad, KeepAlive: keepAlive, PlistDisabled: p.Disabled,
	}, nil
}

// renderPrint writes a service the way `launchctl print
// gui/<uid>/<label>` does on macOS 14 (testdata/print-running.txt is a
// real sample of the same layout).
func renderPrint(domain string, svc *Service) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	state, active := "not running", 0
	if svc.PID > 0 {
		state, active = "running", 1
	}
	w("%s/%s = {", domain, svc.Label)
	w("\tactive count = %d", active)
	w("\tpath = %s", svc.Path)
	w("\ttype = LaunchAgent")
	w("\tstate = %s", state)
	w("")
	w("\tprogram = %s", svc.Program)
	w("\targuments = {")
	args := svc.Args
	if len(args) == 0 {
		args = []string{svc.Program}
	}
	for _, a := range args {
		w("\t\t%s", a)
	}
	w("\t}")
	w("")
	if svc.WorkingDir != "" {
		w("\tworking directory = %s", svc.WorkingDir)
		w("")
	}
	if svc.StdoutPath != "" {
		w("\tstdout path = %s", svc.StdoutPath)
	}
	if svc.StderrPath != "" {
		w("\tstderr path = %s", svc.StderrPath)
	}
	w("\tdefault environment = {")
	w("\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin")
	w("\t}")
	w("")
	printEnvironment(w, svc)
	w("\tdomain = %s [100004]", domain)
	w("\tasid = 100004")
	w("\tminimum runtime = 10")
	w("\texit timeout = 5")
	w("\truns = %d", svc.Runs)
	if svc.PID > 0 {
		w("\tpid = %d", svc.PID)
	}
	w("\timmediate reason = speculative")
	w("\tforks = 0")
	w("\texecs = %d", min(svc.Runs, 1))
	w("\tinitialized = 1")
	w("\ttrampolined = 1")
	w("\tstarted suspended = 0")
	w("\tproxy started suspended = 0")
	switch {
	case svc.LastSignal != "":
		w("\tlast terminating signal = %s", svc.LastSignal)
	case svc.LastExit != "":
		w("\tlast exit code = %s", svc.LastExit)
	default:
		w("\tlast exit code = (never exited)")
	}
	b.WriteString(printLimits)
	var props []string
	if svc.KeepAlive {
		props = append(props, "keepalive")
	}
	if svc.RunAtLoad != nil && *svc.RunAtLoad {
		props = append(props, "runatload")
	}
	props = append(props, "inferred program")
	w("\tproperties = %s", strings.Join(props, " | "))
	w("}")
	return b.String()
}

// printEnvironment writes a service's environment block, sorted, with the
// XPC_SERVICE_NAME launchd adds.
func printEnvironment(w func(string, ...any), svc *Service) {
	w("\tenvironment = {")
	keys := make([]string, 0, len(svc.Env))
	for k := range svc.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w("\t\t%s => %s", k, svc.Env[k])
	}
	w("\t\tXPC_SERVICE_NAME => %s", svc.Label)
	w("\t}")
	w("")
}

// printLimits is the part of a print that is the same for every agent:
// its spawn type and resource limits, as macOS 14 prints them.
const printLimits = "\n" +
	"\tspawn type = daemon (3)\n" +
	"\tjetsam priority = 40\n" +
	"\tjetsam memory limit (active) = (unlimited)\n" +
	"\tjetsam memory limit (inactive) = (unlimited)\n" +
	"\tjetsamproperties category = daemon\n" +
	"\tjetsam thread limit = 32\n" +
	"\tcpumon = default\n" +
	"\tprobabilistic guard malloc policy = {\n" +
	"\t\tactivation rate = 1/1000\n" +
	"\t\tsample rate = 1/0\n" +
	"\t}\n" +
	"\n"

// renderPrintDisabled writes the override database the way `launchctl
// print-disabled gui/<uid>` does on macOS 11+.
func renderPrintDisabled(overrides map[string]bool) string {
	var b strings.Builder
	b.WriteString("disabled services = {\n")
	labels := make([]string, 0, len(overrides))
	for l := range overrides {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		v := "enabled"
		if overrides[l] {
			v = "disabled"
		}
		fmt.Fprintf(&b, "\t%q => %s\n", l, v)
	}
	b.WriteString("}\n\nlogin item associations = {\n}\n")
	return b.String()
}
