// Package systemdsim is a SIMULATED systemd, for tests and the demo only.
// It is not systemd and runs nothing as systemd would beyond what the
// probes can observe: the fake-systemctl and fake-journalctl commands built
// from it answer the probes the way systemctl(1) and journalctl(1) do
// (their output formats are the ones pkg/host/systemctl/testdata captured
// from a real systemd 252), and the processes they start are real,
// supervised processes. It is modelled on systemd's documented behaviour
// as launchdsim is on launchd's:
//
//   - units are read from unit files in one directory (FAKE_SYSTEMD_UNITS,
//     default ~/.config/systemd/user): ExecStart=, Restart=, RestartSec=
//     (default 100ms), Environment=, WorkingDirectory=,
//     StandardOutput=/StandardError= append:PATH (default: the journal),
//     StartLimitIntervalSec=/StartLimitBurst= (default 5 in 10 s) and
//     [Install] WantedBy=. A unit file is read when the unit starts;
//     daemon-reload is accepted and changes nothing else;
//   - start runs ExecStart as a real process (its own process group, the
//     unit's environment, not the caller's) under a supervisor: this same
//     binary, which waits for it as systemd would;
//   - Restart= respawns a process that ended by itself, after RestartSec,
//     by the table of systemd.service(5) (always, on-failure, on-abnormal,
//     on-abort, on-success, no), counting NRestarts and logging
//     "Scheduled restart job, restart counter is at N.";
//   - the start limit: a unit started more than StartLimitBurst times
//     within StartLimitIntervalSec (automatic restarts and starts by hand
//     alike) is not started: "Start request repeated too quickly.", the
//     unit fails, and its Result stays the crash's (exit-code, signal),
//     or becomes start-limit-hit only if it was a success, as systemd
//     252 does; a start by hand is refused with systemctl's own message
//     until reset-failed clears the counter;
//   - a death by signal sets Result=signal, ExecMainCode=2 (killed) and
//     ExecMainStatus to the signal; an exit code sets Result=exit-code
//     (or success for 0), ExecMainCode=1; a start resets them; SIGHUP,
//     SIGINT, SIGTERM and SIGPIPE are clean;
//   - stop (restart, disable --now) sends SIGTERM to the process group,
//     SIGKILL after 3 s, and is a clean stop: Result=success, inactive;
//   - enable and disable create and remove the WantedBy symlinks in
//     <units>/<target>.wants/, as systemctl does; UnitFileState reads
//     them (enabled, disabled, or static without [Install]); --now also
//     starts or stops;
//   - show prints key=value; journalctl -u UNIT -o cat prints systemd's
//     own lines about the unit ("Started ...", "Main process exited,
//     code=killed, status=11/SEGV", "Failed with result 'signal'.") and
//     the unit's output, --since @EPOCH and -n N bounded; -o json tells
//     the two apart as journald does, by the trusted _SYSTEMD_UNIT (the
//     unit's own lines) or init.scope/user@UID.service (systemd's);
//   - a .timer unit started is active/waiting (the probes' timers are
//     what drift expects active); it fires nothing.
//
// One manager serves both --user and --system. Not simulated: Type= other
// than simple, dependencies and targets, timers firing, sockets, cgroups,
// OOM kills and core dumps (a signal that dumps core reads as killed).
//
// Environment (read by both commands):
//
//	FAKE_SYSTEMD_STATE  JSON state file (required); a flock on <state>.lock
//	                    serialises invocations and supervisors; the journal
//	                    is <state>.journal
//	FAKE_SYSTEMD_UNITS  the unit directory (default ~/.config/systemd/user)
//	FAKE_SYSTEMD_LOG    if set, every invocation's argv ("systemctl --user
//	                    restart x.service", "journalctl ...") is appended,
//	                    one line each, so tests can assert the calls
//	FAKE_SYSTEMD_FAIL   injected failures, comma separated
//	                    "verb[:unit]=mode[-once]" ("*" for any verb):
//	                    denied (exit 4, "Access denied": polkit said no),
//	                    auth (exit 1, "Interactive authentication
//	                    required."), nobus (exit 1, "Failed to connect to
//	                    bus: No medium found": no user manager) or a number
//	FAKE_SYSTEMD_PAUSE  the start of an invocation's argv after the scope
//	                    ("enable --now x.service"): the first invocation
//	                    that starts so writes its pid to <state>.paused and
//	                    waits until that file is removed, as launchdsim's
//	                    FAKE_LAUNCHD_PAUSE does
package systemdsim

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

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/lock"
	"github.com/sanctum/council-probes/pkg/testkit/simproc"
)

// Environment variables read by Main and JournalMain.
const (
	EnvState = "FAKE_SYSTEMD_STATE"
	EnvUnits = "FAKE_SYSTEMD_UNITS"
	EnvLog   = "FAKE_SYSTEMD_LOG"
	EnvFail  = "FAKE_SYSTEMD_FAIL"
	EnvPause = "FAKE_SYSTEMD_PAUSE"
)

// The result codes of ExecMainCode (si_code of the SIGCHLD).
const (
	codeExited = 1
	codeKilled = 2
)

// State is the simulated manager's whole state, kept in the JSON state
// file.
type State struct {
	Units map[string]*Unit `json:"units"`
	// FailUsed records consumed "-once" failure injections.
	FailUsed map[string]bool `json:"fail_used,omitempty"`
}

// Unit is a unit the manager has loaded: its configuration as read at its
// last start, and its runtime state as `systemctl show` reports it.
type Unit struct {
	Name   string  `json:"name"`
	Config *Config `json:"config,omitempty"`

	ActiveState string `json:"active_state"`
	SubState    string `json:"sub_state"`
	MainPID     int    `json:"main_pid"`
	// Supervisor is the pid of the process that waits for MainPID.
	Supervisor int `json:"supervisor,omitempty"`
	// Generation counts starts and stops by hand: a supervisor of an
	// older generation has been superseded and records nothing.
	Generation     int    `json:"generation"`
	NRestarts      int    `json:"n_restarts"`
	Result         string `json:"result"`
	ExecMainCode   int    `json:"exec_main_code"`
	ExecMainStatus int    `json:"exec_main_status"`
	// ExecMainStartMono is when the main process started, in µs of
	// CLOCK_MONOTONIC.
	ExecMainStartMono uint64 `json:"exec_main_start_mono"`
	// Starts are the unit's recent starts, for the start limit.
	Starts []time.Time `json:"starts,omitempty"`
}

// JournalPath is the journal of the state file statePath.
func JournalPath(statePath string) string { return statePath + ".journal" }

// PauseFile is where a paused invocation (FAKE_SYSTEMD_PAUSE) writes its
// pid; removing it lets the invocation go on.
func PauseFile(statePath string) string { return statePath + ".paused" }

// ReadState reads the state file; a missing file is an empty state.
func ReadState(path string) (*State, error) {
	st := &State{}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("simulated systemd state %s: %w", path, err)
		}
	}
	if st.Units == nil {
		st.Units = map[string]*Unit{}
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

// withState runs fn under the state lock and saves what it changed.
func withState(statePath string, fn func(st *State) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lock.Acquire(ctx, statePath+".lock")
	if err != nil {
		return err
	}
	defer l.Release()
	st, err := ReadState(statePath)
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	return writeState(statePath, st)
}

// UnitDir is the unit directory the environment names: FAKE_SYSTEMD_UNITS,
// else the user's ~/.config/systemd/user.
func UnitDir() string {
	if d := os.Getenv(EnvUnits); d != "" {
		return d
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "systemd", "user")
	}
	return filepath.Join(os.Getenv("HOME"), ".config", "systemd", "user")
}

// Shutdown stops every process the simulation started, supervisors
// included (tests call it from t.Cleanup so nothing outlives them).
func Shutdown(statePath string) error {
	return withState(statePath, func(st *State) error {
		for _, u := range st.Units {
			u.Generation++
		}
		if err := writeState(statePath, st); err != nil {
			return err
		}
		for _, u := range st.Units {
			kill(u)
		}
		return nil
	})
}

// Reboot is a reboot of the simulated host: every unit is stopped without
// a word (the machine went down), the runtime state is forgotten, and
// every enabled unit (linked into default.target.wants) starts, as at
// boot, under supervisors run from the fake-systemctl binary supervisor.
func Reboot(statePath, unitDir, supervisor string) error {
	if SupervisorPath == "" {
		SupervisorPath = supervisor
	}
	return withState(statePath, func(st *State) error {
		for _, u := range st.Units {
			u.Generation++
		}
		if err := writeState(statePath, st); err != nil {
			return err
		}
		for _, u := range st.Units {
			kill(u)
		}
		st.Units = map[string]*Unit{}
		s := &session{st: st, statePath: statePath, unitDir: unitDir, stdout: io.Discard, stderr: io.Discard}
		for _, name := range enabledUnits(unitDir) {
			s.startUnit(name, "boot")
		}
		return nil
	})
}

// Main is fake-systemctl: args are the arguments after the program name.
// It returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == superviseVerb {
		return supervise(args[1:])
	}
	statePath := os.Getenv(EnvState)
	if statePath == "" {
		fmt.Fprintf(stderr, "fake systemctl: %s is not set (this is a simulation, not systemctl)\n", EnvState)
		return 64
	}
	opts, verb, units, err := parseArgs(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if !pause(statePath, os.Getenv(EnvPause), append([]string{verb}, append(opts.passed, units...)...)) {
		fmt.Fprintf(stderr, "fake systemctl: paused for %s and never released\n", maxPause)
		return 70
	}
	if err := logCall(statePath, "systemctl", args); err != nil {
		fmt.Fprintf(stderr, "fake systemctl: log: %v\n", err)
		return 70
	}
	code := 0
	err = withState(statePath, func(st *State) error {
		reap(st)
		s := &session{st: st, statePath: statePath, unitDir: UnitDir(), stdout: stdout, stderr: stderr, fail: os.Getenv(EnvFail), opts: opts}
		code = s.dispatch(verb, units)
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "fake systemctl: %v\n", err)
		return 70
	}
	return code
}

// options are systemctl's global options the simulation reads.
type options struct {
	now    bool
	props  []string
	passed []string // the options other than the scope, for the pause prefix
}

func parseArgs(args []string) (o options, verb string, units []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--user" || a == "--system":
		case a == "--no-ask-password" || a == "--no-pager" || a == "-q" || a == "--quiet" || a == "--no-block":
		case a == "--now":
			o.now = true
			o.passed = append(o.passed, a)
		case a == "-p" || a == "--property":
			if i+1 >= len(args) {
				return o, "", nil, fmt.Errorf("option %s requires an argument", a)
			}
			i++
			o.props = append(o.props, strings.Split(args[i], ",")...)
		case strings.HasPrefix(a, "--property="):
			o.props = append(o.props, strings.Split(strings.TrimPrefix(a, "--property="), ",")...)
		case strings.HasPrefix(a, "-"):
			return o, "", nil, fmt.Errorf("fake systemctl: option %s is not simulated", a)
		case verb == "":
			verb = a
		default:
			units = append(units, a)
		}
	}
	if verb == "" {
		return o, "", nil, errors.New("fake systemctl: no verb (this is a simulation, not systemctl)")
	}
	return o, verb, units, nil
}

// session is one invocation.
type session struct {
	st             *State
	statePath      string
	unitDir        string
	stdout, stderr io.Writer
	fail           string
	opts           options
}

func (s *session) errorf(code int, format string, args ...any) int {
	fmt.Fprintf(s.stderr, format+"\n", args...)
	return code
}

// unitName appends ".service" to a name with no unit type, as systemctl
// does.
func unitName(n string) string {
	for _, t := range []string{".service", ".timer", ".socket", ".target", ".path", ".mount", ".slice", ".scope"} {
		if strings.HasSuffix(n, t) {
			return n
		}
	}
	return n + ".service"
}

func (s *session) dispatch(verb string, names []string) int {
	for i, n := range names {
		names[i] = unitName(n)
	}
	if code, msg, bad := s.injected(verb, names); bad {
		return s.errorf(code, "%s", msg)
	}
	switch verb {
	case "daemon-reload":
		return 0
	case "show":
		return s.show(names)
	}
	if len(names) == 0 {
		return s.errorf(1, "Too few arguments.")
	}
	code := 0
	for _, n := range names {
		var c int
		switch verb {
		case "start":
			c = s.start(n, verb)
		case "restart":
			c = s.restart(n)
		case "stop":
			c = s.stop(n)
		case "reset-failed":
			c = s.resetFailed(n)
		case "enable":
			c = s.enable(n)
		case "disable":
			c = s.disable(n)
		default:
			return s.errorf(1, "fake systemctl: verb %q is not simulated", verb)
		}
		if c != 0 && code == 0 {
			code = c
		}
	}
	return code
}

// injected returns a failure configured in FAKE_SYSTEMD_FAIL for verb and
// units, consuming "-once" ones.
func (s *session) injected(verb string, units []string) (code int, msg string, ok bool) {
	unit := strings.Join(units, " ")
	for _, item := range strings.Split(s.fail, ",") {
		key, mode, found := strings.Cut(strings.TrimSpace(item), "=")
		if !found {
			continue
		}
		kverb, kunit, _ := strings.Cut(key, ":")
		if (kverb != verb && kverb != "*") || (kunit != "" && unitName(kunit) != unit) {
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
		case "denied":
			return 4, fmt.Sprintf("Failed to %s %s: Access denied", verb, unit), true
		case "auth":
			return 1, fmt.Sprintf("Failed to %s %s: Interactive authentication required.", verb, unit), true
		case "nobus":
			return 1, "Failed to connect to bus: No medium found", true
		default:
			if n, err := strconv.Atoi(base); err == nil && n > 0 && n < 256 {
				return n, fmt.Sprintf("Failed to %s %s: Injected failure", verb, unit), true
			}
		}
	}
	return 0, "", false
}

// showOrder is the order systemd 252 prints these properties in.
var showOrder = []string{"MainPID", "Result", "NRestarts", "ExecMainStartTimestampMonotonic", "ExecMainCode",
	"ExecMainStatus", "LoadState", "ActiveState", "SubState", "UnitFileState"}

func (s *session) show(names []string) int {
	if len(names) == 0 {
		return s.errorf(1, "fake systemctl: show of the manager itself is not simulated")
	}
	want := map[string]bool{}
	for _, p := range s.opts.props {
		want[p] = true
	}
	for i, n := range names {
		if i > 0 {
			fmt.Fprintln(s.stdout)
		}
		props := s.properties(n)
		for _, k := range showOrder {
			if len(want) == 0 || want[k] {
				fmt.Fprintf(s.stdout, "%s=%s\n", k, props[k])
			}
		}
	}
	return 0
}

// properties are the unit's properties as show prints them.
func (s *session) properties(name string) map[string]string {
	u := s.st.Units[name]
	cfg, err := readUnit(s.unitDir, name)
	loaded := err == nil || (u != nil && u.Config != nil)
	p := map[string]string{"MainPID": "0", "Result": "success", "NRestarts": "0", "ExecMainStartTimestampMonotonic": "0",
		"ExecMainCode": "0", "ExecMainStatus": "0", "LoadState": "not-found", "ActiveState": "inactive", "SubState": "dead", "UnitFileState": ""}
	if !loaded {
		return p
	}
	p["LoadState"] = "loaded"
	p["UnitFileState"] = unitFileState(s.unitDir, name, cfg)
	if u == nil {
		return p
	}
	p["MainPID"] = strconv.Itoa(u.MainPID)
	if u.Result != "" {
		p["Result"] = u.Result
	}
	p["NRestarts"] = strconv.Itoa(u.NRestarts)
	p["ExecMainStartTimestampMonotonic"] = strconv.FormatUint(u.ExecMainStartMono, 10)
	p["ExecMainCode"] = strconv.Itoa(u.ExecMainCode)
	p["ExecMainStatus"] = strconv.Itoa(u.ExecMainStatus)
	if u.ActiveState != "" {
		p["ActiveState"], p["SubState"] = u.ActiveState, u.SubState
	}
	return p
}

// unitFileState is enabled (linked into a .wants directory), disabled
// (it has [Install]), static (it has none), or "" with no unit file.
func unitFileState(dir, name string, cfg *Config) string {
	if cfg == nil {
		return ""
	}
	if len(wantsLinks(dir, name)) > 0 {
		return "enabled"
	}
	if cfg.HasInstall {
		return "disabled"
	}
	return "static"
}

// wantsLinks are the unit's symlinks in dir's .wants directories.
func wantsLinks(dir, name string) []string {
	links, _ := filepath.Glob(filepath.Join(dir, "*.wants", name))
	return links
}

// enabledUnits are the units linked into default.target.wants, sorted.
func enabledUnits(dir string) []string {
	links, _ := filepath.Glob(filepath.Join(dir, "default.target.wants", "*"))
	var names []string
	for _, l := range links {
		names = append(names, filepath.Base(l))
	}
	sort.Strings(names)
	return names
}

func (s *session) unit(name string) *Unit {
	u := s.st.Units[name]
	if u == nil {
		u = &Unit{Name: name, ActiveState: "inactive", SubState: "dead", Result: "success"}
		s.st.Units[name] = u
	}
	return u
}

func describe(u *Unit) string {
	if u.Config != nil && u.Config.Description != "" {
		return u.Name + " - " + u.Config.Description
	}
	return u.Name
}

// start is `systemctl start`: nothing if the unit runs; refused at the
// start limit.
func (s *session) start(name, verb string) int {
	cfg, err := readUnit(s.unitDir, name)
	if err != nil {
		if errors.Is(err, errNoUnitFile) {
			return s.errorf(5, "Failed to %s %s: Unit %s not found.", verb, name, name)
		}
		return s.errorf(1, "Failed to %s %s: Unit %s has a bad unit file setting: %v", verb, name, name, err)
	}
	u := s.unit(name)
	u.Config = cfg
	if (u.MainPID > 0 && simproc.Alive(u.MainPID)) || (cfg.Timer && u.ActiveState == "active") {
		return 0
	}
	return s.startUnit(name, verb)
}

// startUnit starts the unit's main process now (its config is read
// afresh), subject to the start limit.
func (s *session) startUnit(name, verb string) int {
	cfg, err := readUnit(s.unitDir, name)
	if err != nil {
		return s.errorf(5, "Failed to %s %s: Unit %s not found.", verb, name, name)
	}
	u := s.unit(name)
	u.Config = cfg
	if limited(u, time.Now()) {
		refuseStart(s.statePath, u)
		return s.errorf(1, "Job for %[1]s failed because start of the service was attempted too often.\n"+
			"See \"systemctl --user status %[1]s\" and \"journalctl --user -xeu %[1]s\" for details.\n"+
			"To force a start use \"systemctl --user reset-failed %[1]s\"\n"+
			"followed by \"systemctl --user start %[1]s\" again.", name)
	}
	u.Generation++
	u.NRestarts = 0
	if cfg.Timer {
		u.Starts = append(u.Starts, time.Now())
		u.ActiveState, u.SubState = "active", "waiting"
		journal(s.statePath, name, "Started "+describe(u)+".")
		return 0
	}
	if err := launch(s.statePath, u); err != nil {
		return s.errorf(1, "Job for %s failed because the control process exited with error code.", name)
	}
	return 0
}

// limited reports whether starting u now would exceed its start limit.
func limited(u *Unit, now time.Time) bool {
	interval, burst := u.Config.StartLimitInterval, u.Config.StartLimitBurst
	if interval <= 0 || burst <= 0 {
		u.Starts = nil
		return false
	}
	var recent []time.Time
	for _, t := range u.Starts {
		if now.Sub(t) < interval {
			recent = append(recent, t)
		}
	}
	u.Starts = recent
	return len(recent) >= burst
}

// refuseStart fails u at its start limit, in systemd's words.
func refuseStart(statePath string, u *Unit) {
	u.MainPID, u.Supervisor = 0, 0
	u.ActiveState, u.SubState = "failed", "failed"
	if u.Result == "" || u.Result == "success" {
		u.Result = "start-limit-hit"
	}
	journal(statePath, u.Name, u.Name+": Start request repeated too quickly.")
	journal(statePath, u.Name, fmt.Sprintf("%s: Failed with result '%s'.", u.Name, u.Result))
	journal(statePath, u.Name, "Failed to start "+describe(u)+".")
}

// launch starts u's main process under a supervisor of the unit's
// current generation and records it running.
func launch(statePath string, u *Unit) error {
	u.Starts = append(u.Starts, time.Now())
	u.Result, u.ExecMainCode, u.ExecMainStatus = "success", 0, 0
	pid, sup, err := spawnSupervisor(statePath, u)
	if err != nil {
		// systemd: "Failed at step EXEC spawning ...: No such file or directory".
		u.MainPID, u.Supervisor = 0, 0
		u.ActiveState, u.SubState = "failed", "failed"
		u.Result, u.ExecMainCode, u.ExecMainStatus = "exit-code", codeExited, 203
		journal(statePath, u.Name, fmt.Sprintf("%s: Failed at step EXEC spawning %s: %v", u.Name, u.Config.ExecStart[0], err))
		journal(statePath, u.Name, u.Name+": Main process exited, code=exited, status=203/EXEC")
		journal(statePath, u.Name, u.Name+": Failed with result 'exit-code'.")
		journal(statePath, u.Name, "Failed to start "+describe(u)+".")
		return err
	}
	u.MainPID, u.Supervisor = pid, sup
	u.ExecMainStartMono = monotonicMicros()
	u.ActiveState, u.SubState = "active", "running"
	journal(statePath, u.Name, "Started "+describe(u)+".")
	return nil
}

// stop is `systemctl stop`: a clean stop of the main process.
func (s *session) stop(name string) int {
	u := s.st.Units[name]
	if u == nil {
		if _, err := readUnit(s.unitDir, name); err != nil {
			return s.errorf(5, "Failed to stop %s: Unit %s not loaded.", name, name)
		}
		return 0
	}
	s.stopUnit(u)
	return 0
}

// stopUnit stops u's main process (SIGTERM to its group, SIGKILL after 3
// s) and records a clean stop. The superseded generation is saved before
// the signal, so the supervisor records nothing of it.
func (s *session) stopUnit(u *Unit) {
	u.Generation++
	if u.Config != nil && u.Config.Timer && u.ActiveState == "active" {
		u.ActiveState, u.SubState = "inactive", "dead"
		journal(s.statePath, u.Name, "Stopped "+describe(u)+".")
		return
	}
	if u.MainPID <= 0 && u.SubState != "auto-restart" {
		return
	}
	running := u.MainPID > 0
	if running {
		journal(s.statePath, u.Name, "Stopping "+describe(u)+"...")
	}
	writeState(s.statePath, s.st)
	kill(u)
	u.MainPID, u.Supervisor = 0, 0
	u.ActiveState, u.SubState = "inactive", "dead"
	if running {
		u.Result, u.ExecMainCode, u.ExecMainStatus = "success", codeKilled, 15
		journal(s.statePath, u.Name, u.Name+": Deactivated successfully.")
	}
	journal(s.statePath, u.Name, "Stopped "+describe(u)+".")
}

// restart is `systemctl restart`: stop, then start (which the start limit
// counts).
func (s *session) restart(name string) int {
	if _, err := readUnit(s.unitDir, name); err != nil && s.st.Units[name] == nil {
		return s.errorf(5, "Failed to restart %s: Unit %s not found.", name, name)
	}
	u := s.unit(name)
	if u.ActiveState == "failed" && u.Config != nil && limited(u, time.Now()) {
		return s.startUnit(name, "restart") // refused, in systemctl's words
	}
	s.stopUnit(u)
	return s.startUnit(name, "restart")
}

// resetFailed is `systemctl reset-failed`: a failed unit is inactive
// again, and the start limit and restart counters are zero.
func (s *session) resetFailed(name string) int {
	u := s.st.Units[name]
	if u == nil {
		if _, err := readUnit(s.unitDir, name); err != nil {
			return s.errorf(5, "Failed to reset failed state of unit %s: Unit %s not loaded.", name, name)
		}
		return 0
	}
	if u.ActiveState == "failed" {
		u.ActiveState, u.SubState = "inactive", "dead"
		u.Result = "success"
	}
	u.Starts, u.NRestarts = nil, 0
	return 0
}

// enable links the unit into its WantedBy targets' .wants directories, as
// systemctl does (and --now starts it).
func (s *session) enable(name string) int {
	cfg, err := readUnit(s.unitDir, name)
	if err != nil {
		return s.errorf(1, "Failed to enable unit: Unit file %s does not exist.", name)
	}
	if !cfg.HasInstall || len(cfg.WantedBy) == 0 {
		fmt.Fprintf(s.stderr, "The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\nAlias= settings in the [Install] section, and DefaultInstance= for template\nunits). This means they are not meant to be enabled or disabled using systemctl.\n")
	}
	for _, target := range cfg.WantedBy {
		wants := filepath.Join(s.unitDir, target+".wants")
		link := filepath.Join(wants, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.MkdirAll(wants, 0o755); err != nil {
			return s.errorf(1, "Failed to enable unit: %v", err)
		}
		if err := os.Symlink(cfg.Path, link); err != nil {
			return s.errorf(1, "Failed to enable unit: %v", err)
		}
		fmt.Fprintf(s.stderr, "Created symlink %s → %s.\n", link, cfg.Path)
	}
	if s.opts.now {
		return s.start(name, "enable")
	}
	return 0
}

// disable removes the unit's .wants links (and --now stops it).
func (s *session) disable(name string) int {
	if _, err := readUnit(s.unitDir, name); err != nil && s.st.Units[name] == nil {
		return s.errorf(1, "Failed to disable unit: Unit file %s does not exist.", name)
	}
	for _, link := range wantsLinks(s.unitDir, name) {
		if err := os.Remove(link); err != nil {
			return s.errorf(1, "Failed to disable unit: %v", err)
		}
		fmt.Fprintf(s.stderr, "Removed %q.\n", link)
	}
	if s.opts.now {
		if u := s.st.Units[name]; u != nil {
			s.stopUnit(u)
		}
	}
	return 0
}

// reap notices units whose supervisor died with it (killed from outside):
// nothing will report on them, so they are gone.
func reap(st *State) {
	for _, u := range st.Units {
		if u.MainPID > 0 && !simproc.Alive(u.MainPID) && (u.Supervisor <= 0 || !simproc.Alive(u.Supervisor)) {
			u.MainPID, u.Supervisor = 0, 0
			u.ActiveState, u.SubState = "failed", "failed"
			if u.Result == "success" {
				u.Result = "signal"
			}
		}
	}
}

// logCall appends argv to FAKE_SYSTEMD_LOG, if set.
func logCall(statePath, prog string, args []string) error {
	p := os.Getenv(EnvLog)
	if p == "" {
		return nil
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.Join(append([]string{prog}, args...), " ") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// maxPause bounds a pause nobody releases: the invocation then fails
// without touching the state.
const maxPause = 60 * time.Second

// pause holds an invocation whose argv starts with prefix, the first time
// one does, until PauseFile is removed. It reports false when the pause
// was never released.
func pause(statePath, prefix string, args []string) bool {
	if prefix == "" || !strings.HasPrefix(strings.Join(args, " "), prefix) {
		return true
	}
	used, err := os.OpenFile(statePath+".pause-used", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return true
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
