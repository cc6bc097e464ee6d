package units

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	coretext "github.com/sanctum/council-probes/pkg/core/text"
)

// Level is how a doctor's finding counts.
type Level int

const (
	// Fine: nothing to do.
	Fine Level = iota
	// Warn: the timers will not run as installed (or not always); the
	// finding says how to fix it.
	Warn
	// CannotTell: the question could not be answered.
	CannotTell
)

func (l Level) String() string {
	switch l {
	case Fine:
		return "ok"
	case Warn:
		return "warn"
	}
	return "unknown"
}

// Finding is one answer of the doctor.
type Finding struct {
	// Check is what was asked: "systemd", "linger", "user manager",
	// "systemctl --user".
	Check   string
	Level   Level
	Message string
	// Fix is the command or step that fixes a Warn; empty otherwise.
	Fix string
}

// Answer is one command's answer as the doctor saw it.
type Answer struct {
	// Output is its combined output, bounded.
	Output string
	// Code is its exit status; -1 when it did not run.
	Code int
	// Err says why it did not run (not found, timed out).
	Err string
}

// Observations are what Diagnose judges: whether the system runs systemd,
// and three commands' answers.
type Observations struct {
	// User and UID are the probes' user.
	User string
	UID  int
	// Self: the doctor runs as User, so `systemctl --user` speaks for them.
	Self bool
	// Booted: /run/systemd/system exists, the test sd_booted(3) makes.
	Booted bool
	// Linger is `loginctl show-user USER -p Linger`.
	Linger Answer
	// Manager is `systemctl show user@UID.service -p ActiveState -p
	// SubState`: the system unit that runs the user's manager.
	Manager Answer
	// UserSystemctl is `systemctl --user show -p SystemState` (only asked
	// when Self).
	UserSystemctl Answer
}

// ParseProperties reads systemctl's and loginctl's `show` output: one
// Key=Value per line. Lines without "=" are ignored; the first value of a
// key wins.
func ParseProperties(out string) map[string]string {
	props := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), maxOutput)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || k == "" {
			continue
		}
		if _, seen := props[k]; !seen {
			props[k] = v
		}
	}
	return props
}

// why says, in one line, why a command gave no answer.
func (a Answer) why() string {
	if a.Err != "" {
		return coretext.Cut(coretext.Clean(a.Err), 300)
	}
	if out := coretext.Cut(coretext.Clean(a.Output), 300); out != "" {
		return fmt.Sprintf("exit %d: %s", a.Code, out)
	}
	return fmt.Sprintf("exit %d", a.Code)
}

// Diagnose says whether the probes' user units will run: on a system
// booted with systemd, with linger on (or they run only during a login
// session), a user manager running, and `systemctl --user` reaching it.
// It is a pure function of what was observed.
func Diagnose(o Observations) []Finding {
	if !o.Booted {
		return []Finding{{Check: "systemd", Level: Warn,
			Message: "this system was not booted with systemd (no /run/systemd/system, the test of sd_booted(3)): no user manager will run the timers",
			Fix:     "run the probes on a host booted with systemd, or under launchd (make install-plists)"}}
	}
	fs := []Finding{{Check: "systemd", Level: Fine, Message: "booted with systemd"}}
	enableLinger := "loginctl enable-linger " + o.User + " (as root, or as " + o.User + " where polkit allows it)"

	linger := ParseProperties(o.Linger.Output)
	switch {
	case o.Linger.Code == 0 && linger["Linger"] == "yes":
		fs = append(fs, Finding{Check: "linger", Level: Fine,
			Message: "linger is on for " + o.User + ": the user manager starts at boot and the timers run with nobody logged in"})
	case o.Linger.Code == 0 && linger["Linger"] == "no":
		fs = append(fs, Finding{Check: "linger", Level: Warn,
			Message: "linger is off for " + o.User + ": user units run only while " + o.User + " has a login session; they stop at logout and do not start at boot",
			Fix:     enableLinger})
	case o.Linger.Code > 0 && strings.Contains(o.Linger.Output, "not logged in or lingering"):
		fs = append(fs, Finding{Check: "linger", Level: Warn,
			Message: o.User + " has no login session and linger is off: no user unit of theirs runs now, and none starts at boot",
			Fix:     enableLinger})
	default:
		fs = append(fs, Finding{Check: "linger", Level: CannotTell,
			Message: "cannot tell whether linger is on for " + o.User + ": loginctl show-user: " + o.Linger.why()})
	}

	unit := "user@" + strconv.Itoa(o.UID) + ".service"
	manager := ParseProperties(o.Manager.Output)
	managerRuns := o.Manager.Code == 0 && manager["ActiveState"] == "active"
	switch {
	case managerRuns:
		fs = append(fs, Finding{Check: "user manager", Level: Fine, Message: unit + " is active: " + o.User + "'s user manager is running"})
	case o.Manager.Code == 0 && manager["ActiveState"] != "":
		fs = append(fs, Finding{Check: "user manager", Level: Warn,
			Message: unit + " is " + manager["ActiveState"] + " (" + manager["SubState"] + "): no user manager runs for " + o.User + " now, so no timer of theirs fires",
			Fix:     "log in as " + o.User + ", or " + enableLinger})
	default:
		fs = append(fs, Finding{Check: "user manager", Level: CannotTell,
			Message: "cannot tell whether " + o.User + "'s user manager runs: systemctl show " + unit + ": " + o.Manager.why()})
	}

	if !o.Self {
		return append(fs, Finding{Check: "systemctl --user", Level: CannotTell,
			Message: "not asked: systemctl --user speaks for the user who runs it; run council-units doctor as " + o.User})
	}
	state := ParseProperties(o.UserSystemctl.Output)["SystemState"]
	out := o.UserSystemctl.Output
	switch {
	case o.UserSystemctl.Code == 0 && (state == "running" || state == "starting" || state == "initializing"):
		fs = append(fs, Finding{Check: "systemctl --user", Level: Fine, Message: "systemctl --user reaches the user manager (" + state + ")"})
	case o.UserSystemctl.Code == 0 && state == "degraded":
		fs = append(fs, Finding{Check: "systemctl --user", Level: Warn,
			Message: "systemctl --user works, but the user manager is degraded: a user unit has failed",
			Fix:     "systemctl --user --failed, then journalctl --user -u UNIT"})
	case o.UserSystemctl.Code == 0 && state != "":
		fs = append(fs, Finding{Check: "systemctl --user", Level: Warn,
			Message: "systemctl --user works, but the user manager is " + state + ": timers may not fire"})
	case o.UserSystemctl.Code > 0 && (strings.Contains(out, "Failed to connect to bus") || strings.Contains(out, "XDG_RUNTIME_DIR")):
		fix := "export XDG_RUNTIME_DIR=/run/user/" + strconv.Itoa(o.UID) + " (a su or sudo shell does not set it), or log in as " + o.User
		if !managerRuns {
			fix = "start a user manager first (see above)"
		}
		fs = append(fs, Finding{Check: "systemctl --user", Level: Warn,
			Message: "systemctl --user cannot reach a user manager from here, so install-units cannot enable the timers: " + o.UserSystemctl.why(),
			Fix:     fix})
	default:
		fs = append(fs, Finding{Check: "systemctl --user", Level: CannotTell,
			Message: "cannot tell whether systemctl --user works: " + o.UserSystemctl.why()})
	}
	return fs
}

// DoctorExit is the doctor's exit code: 3 when any question could not be
// answered, else 1 when any finding warns, else 0. Like council-status,
// "cannot tell" ranks above a warning.
func DoctorExit(fs []Finding) int {
	code := 0
	for _, f := range fs {
		switch {
		case f.Level == CannotTell:
			return 3
		case f.Level == Warn:
			code = 1
		}
	}
	return code
}

// WriteFindings prints one line per finding, and the fix under a warning.
func WriteFindings(w io.Writer, fs []Finding) {
	for _, f := range fs {
		fmt.Fprintf(w, "%-7s %s: %s\n", f.Level, f.Check, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(w, "%-7s fix: %s\n", "", f.Fix)
		}
	}
}

// Doctor asks the system what Diagnose judges. Its fields are its side
// effects, with real defaults from NewDoctor.
type Doctor struct {
	User string
	UID  int
	Self bool
	// Loginctl and Systemctl are the binaries asked.
	Loginctl, Systemctl string
	// Root is where /run/systemd/system is looked for ("/").
	Root string
	// Timeout bounds each command.
	Timeout time.Duration
	// Exec runs a command (ExecCommand).
	Exec func(ctx context.Context, path string, args []string) ([]byte, int, error)
}

// Observe runs the doctor's commands and gathers their answers.
func (d Doctor) Observe(ctx context.Context) Observations {
	o := Observations{User: d.User, UID: d.UID, Self: d.Self}
	if fi, err := os.Stat(filepath.Join(d.Root, "run", "systemd", "system")); err == nil && fi.IsDir() {
		o.Booted = true
	}
	if !o.Booted {
		return o
	}
	o.Linger = d.ask(ctx, d.Loginctl, "show-user", d.User, "-p", "Linger")
	o.Manager = d.ask(ctx, d.Systemctl, "show", "user@"+strconv.Itoa(d.UID)+".service", "-p", "ActiveState", "-p", "SubState")
	if d.Self {
		o.UserSystemctl = d.ask(ctx, d.Systemctl, "--user", "show", "-p", "SystemState")
	}
	return o
}

func (d Doctor) ask(ctx context.Context, path string, args ...string) Answer {
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	run := d.Exec
	if run == nil {
		run = ExecCommand
	}
	out, code, err := run(ctx, path, args)
	a := Answer{Output: string(out), Code: code}
	if err != nil {
		a.Code = -1
		a.Err = path + ": " + err.Error()
	}
	return a
}
