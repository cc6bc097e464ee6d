// Package units renders, validates and installs the council probes as
// systemd user units, the Linux counterpart of the plists module: one
// Type=oneshot service and one timer per probe of the suite's registry
// (pkg/core/suite), from one pair of templates (templates/probe.service.tmpl,
// templates/probe.timer.tmpl) filled from each probe's schedule, RunAtLoad
// and the reason for it. It also renders the polkit rule that lets the
// probes' user restart a system-scope primary and fallback (RenderPolkit),
// and tells whether user units will run at all (Diagnose, `council-units
// doctor`).
//
// Every value a template prints goes through the escaper for where it
// lands: value (a setting's value, "%" doubled), exec (a command line,
// quoted the way systemd.syntax(7) unquotes it, "%" and "$" doubled), span
// (a systemd time span) or comment. A rendered unit is validated before it
// is written (Validate: read back and compared with its Job, no setting but
// the expected ones, no Environment=, no secret), and where systemd-analyze
// exists it must pass `systemd-analyze --user verify` without a word
// (VerifyFiles).
//
// The council-units command (Run):
//
//	council-units render    [flags]   write the validated units, run no systemctl
//	council-units install   [flags]   write them, daemon-reload, enable --now each timer
//	council-units uninstall [flags]   disable --now each timer, remove the units, daemon-reload
//	council-units doctor    [--user NAME]
//	council-units polkit    --primary UNIT --fallback UNIT --user NAME [--output FILE]
//
// Without systemd (any system but Linux, unless --systemctl names one) or
// with --dry-run, install and uninstall print the exact systemctl commands
// instead of running them. Exit status: 0 done, 1 failed, 2 bad usage; the
// doctor exits 0 when the units will run, 1 when it warns (each warning
// says how to fix it), 3 when it cannot tell.
package units

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/host/paths"
)

// Paths relative to home, from the host's layout (pkg/host/paths).
var (
	DefaultDestDir = paths.Home("").SystemdUserDir()
	DefaultBinDir  = paths.Home("").BinDir()
	DefaultLogDir  = paths.Home("").LogDir()
)

// UnitMode is the mode of a written unit file: the user manager reads it,
// and it holds nothing secret.
const UnitMode os.FileMode = 0o644

// ServiceName is probe p's service unit: council-<name>.service.
func ServiceName(p suite.Probe) string { return p.Binary() + ".service" }

// TimerName is probe p's timer unit: council-<name>.timer. A timer starts
// the service of the same name (systemd.timer(5), Unit=).
func TimerName(p suite.Probe) string { return p.Binary() + ".timer" }

// Config says whose units to render and where things are. Every path is
// absolute once Resolve has run.
type Config struct {
	// Home is the user's home: defaults resolve against it. The user
	// manager runs the services with that user's HOME.
	Home string
	// BinDir holds the installed council-<name> binaries.
	BinDir string
	// LogDir holds the probes' JSON-lines logs; a non-default one is passed
	// to each probe as --log-file.
	LogDir string
	// Probes are the probes to render; Resolve fills in the suite's.
	Probes []suite.Probe
}

// Resolve fills defaults and expands a leading "~" against Home. Home must
// be set.
func (c Config) Resolve() (Config, error) {
	if c.Home == "" || !filepath.IsAbs(c.Home) {
		return c, fmt.Errorf("resolve config: home must be an absolute path, got %q", c.Home)
	}
	c.Home = filepath.Clean(c.Home)
	var err error
	if c.BinDir, err = c.Path(c.BinDir, DefaultBinDir); err != nil {
		return c, err
	}
	if c.LogDir, err = c.Path(c.LogDir, DefaultLogDir); err != nil {
		return c, err
	}
	if c.Probes == nil {
		c.Probes = suite.Probes
	}
	return c, nil
}

// Path expands p against Home: "" means def (relative to Home), "~" and
// "~/x" are Home-relative, anything else must be absolute.
func (c Config) Path(p, def string) (string, error) { return paths.Home(c.Home).Expand(p, def) }

// Job is one probe's pair of units: the templates' data, and what Validate
// expects to read back from the rendered files.
type Job struct {
	// Name is the probe's name; Binary, Asks, Schedule and Why describe it
	// in the units' comments.
	Name, Binary, Asks, Schedule, Why string
	// Service and Timer are the unit names (the files' names).
	Service, Timer string
	// ExecStart is the service's command line: the installed binary and
	// only the flags whose value differs from the probe's default.
	ExecStart []string
	// Every is the interval (OnUnitActiveSec=); zero for a daily probe.
	Every time.Duration
	// OnCalendar is a daily probe's calendar event ("*-*-* 03:00:00").
	OnCalendar string
	// FirstDelay (OnStartupSec=) is when the first tick comes after the
	// user manager starts (the load: login, or boot with linger): zero for
	// a probe that runs at load, its interval for one that waits, nil for
	// a daily probe that does not run at load.
	FirstDelay *time.Duration
	RunAtLoad  bool
}

// Description is the service's Description=.
func (j Job) Description() string { return j.Binary + ": " + j.Asks + "?" }

// EverySpan is Every as a time span, for the timer's comment.
func (j Job) EverySpan() string {
	s, err := Span(j.Every)
	if err != nil {
		return j.Every.String()
	}
	return s
}

// FirstTick says when the first tick comes after the user manager starts,
// for the timer's comment: "as soon as", or "<interval> after".
func (j Job) FirstTick() string {
	if j.FirstDelay == nil || *j.FirstDelay == 0 {
		return "as soon as"
	}
	s, err := Span(*j.FirstDelay)
	if err != nil {
		s = j.FirstDelay.String()
	}
	return s + " after"
}

// TimerDescription is the timer's Description=.
func (j Job) TimerDescription() string { return j.Binary + " " + j.Schedule }

// Calendar is the OnCalendar= expression of a daily run at t.
func Calendar(t suite.TimeOfDay) string {
	return fmt.Sprintf("*-*-* %02d:%02d:00", t.Hour, t.Minute)
}

// ProbeJob is the Job of probe p under c (c resolved).
func (c Config) ProbeJob(p suite.Probe) Job {
	args := []string{filepath.Join(c.BinDir, p.Binary())}
	if c.LogDir != filepath.Join(c.Home, DefaultLogDir) {
		args = append(args, "--log-file", paths.ProbeLog(c.LogDir, p.Name))
	}
	j := Job{
		Name:      p.Name,
		Binary:    p.Binary(),
		Asks:      p.Asks,
		Schedule:  p.Schedule(),
		Why:       p.Why,
		Service:   ServiceName(p),
		Timer:     TimerName(p),
		ExecStart: args,
		RunAtLoad: p.RunAtLoad,
	}
	if p.At != nil {
		j.OnCalendar = Calendar(*p.At)
	} else {
		j.Every = p.Every
	}
	// launchd's RunAtLoad: the user manager's start is the load. A probe
	// that runs at load ticks at once; an interval probe that does not has
	// its first tick one interval after load, as launchd's StartInterval.
	switch {
	case p.RunAtLoad:
		zero := time.Duration(0)
		j.FirstDelay = &zero
	case p.At == nil:
		every := p.Every
		j.FirstDelay = &every
	}
	return j
}

// Unit is one rendered unit file.
type Unit struct {
	Job Job
	// Name is the unit's name and file name (Job.Service or Job.Timer).
	Name string
	Data []byte
}

// IsTimer reports whether u is the timer of its pair.
func (u Unit) IsTimer() bool { return u.Name == u.Job.Timer }

//go:embed templates/*.tmpl
var templateFS embed.FS

// ErrUnsafeValue is returned for a value a unit file cannot carry as it is
// (a control character, invalid UTF-8, a backslash where systemd would read
// an escape or a line continuation, a quote in the program's path).
var ErrUnsafeValue = errors.New("value not representable in a unit file")

// checkText refuses what no unit file line may carry.
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: invalid UTF-8 in %s %q", ErrUnsafeValue, what, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: control character %U in %s %q", ErrUnsafeValue, r, what, s)
		}
	}
	return nil
}

// valueText is the templates' value function: a setting's value as systemd
// reads it back. Specifiers are expanded in most settings
// (systemd.unit(5), "Specifiers"), so "%" is doubled; a backslash would be
// an escape or a line continuation (systemd.syntax(7)), and leading or
// trailing space is dropped by the parser, so both are refused.
func valueText(s string) (string, error) {
	if err := checkText("value", s); err != nil {
		return "", err
	}
	if strings.Contains(s, `\`) {
		return "", fmt.Errorf("%w: backslash in value %q", ErrUnsafeValue, s)
	}
	if s == "" || strings.TrimSpace(s) != s {
		return "", fmt.Errorf("%w: empty value, or space at its ends: %q", ErrUnsafeValue, s)
	}
	return strings.ReplaceAll(s, "%", "%%"), nil
}

// execText is the templates' exec function: a command line that systemd
// splits back into exactly args (systemd.service(5), "Command lines";
// systemd.syntax(7), "Quoting"). The program's path is not
// variable-expanded, and systemd refuses one with quotes or backslashes
// ("Executable name contains special characters"), so it is only quoted
// when it holds a space and has "%" doubled. Every other argument that is
// not plainly safe is double-quoted with "\" and `"` escaped and "%" and
// "$" doubled.
func execText(args []string) (string, error) {
	if len(args) == 0 || !filepath.IsAbs(args[0]) {
		return "", fmt.Errorf("%w: the program must be an absolute path, got %q", ErrUnsafeValue, args)
	}
	words := make([]string, 0, len(args))
	for i, a := range args {
		if err := checkText("argument", a); err != nil {
			return "", err
		}
		if i == 0 {
			if strings.ContainsAny(a, "\"'\\") {
				return "", fmt.Errorf("%w: quote or backslash in the program's path %q", ErrUnsafeValue, a)
			}
			w := strings.ReplaceAll(a, "%", "%%")
			if strings.ContainsFunc(a, unicode.IsSpace) {
				w = `"` + w + `"`
			}
			words = append(words, w)
			continue
		}
		words = append(words, execWord(a))
	}
	return strings.Join(words, " "), nil
}

// execWord quotes one argument after the program.
func execWord(a string) string {
	if a != "" && a != ";" && strings.IndexFunc(a, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=,:@", r))
	}) < 0 {
		return a
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$")
	return `"` + r.Replace(a) + `"`
}

// commentText is the templates' comment function: its arguments joined,
// wrapped into "# " lines. A backslash is refused: at the end of a line it
// would join the next one (systemd.syntax(7)).
func commentText(parts ...any) (string, error) {
	s := fmt.Sprint(parts...)
	if err := checkText("comment", s); err != nil {
		return "", err
	}
	if strings.Contains(s, `\`) {
		return "", fmt.Errorf("%w: backslash in a comment: %q", ErrUnsafeValue, s)
	}
	return text.Wrap(s, commentWidth, "\n# "), nil
}

// commentWidth is where a comment's lines wrap (without the "# ").
const commentWidth = 74

// Span renders d as a systemd time span (systemd.time(7)): "0", "30s",
// "10min", "1h 30min", "1s 500ms". "min", not "m", which a reader could
// take for a month.
func Span(d time.Duration) (string, error) {
	if d < 0 || d%time.Millisecond != 0 {
		return "", fmt.Errorf("%w: time span %s is negative or finer than a millisecond", ErrUnsafeValue, d)
	}
	if d == 0 {
		return "0", nil
	}
	var parts []string
	for _, u := range []struct {
		d    time.Duration
		unit string
	}{{time.Hour, "h"}, {time.Minute, "min"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / u.d; n > 0 {
			parts = append(parts, fmt.Sprintf("%d%s", n, u.unit))
			d -= n * u.d
		}
	}
	return strings.Join(parts, " "), nil
}

// spanText is the templates' span function (a Duration or a *Duration).
func spanText(v any) (string, error) {
	switch d := v.(type) {
	case time.Duration:
		return Span(d)
	case *time.Duration:
		if d != nil {
			return Span(*d)
		}
	}
	return "", fmt.Errorf("%w: time span %v", ErrUnsafeValue, v)
}

// Template returns the parsed template of kind "service" or "timer".
func Template(kind string) (*template.Template, error) {
	src, err := templateFS.ReadFile("templates/probe." + kind + ".tmpl")
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", kind, err)
	}
	t, err := template.New(kind).Funcs(template.FuncMap{
		"value": valueText, "exec": execText, "span": spanText, "comment": commentText,
	}).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", kind, err)
	}
	return t, nil
}

// Render renders job's service and timer.
func Render(job Job) (service, timer Unit, err error) {
	out := make([]Unit, 0, 2)
	for _, k := range []struct{ kind, name string }{{"service", job.Service}, {"timer", job.Timer}} {
		t, err := Template(k.kind)
		if err != nil {
			return Unit{}, Unit{}, err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, job); err != nil {
			return Unit{}, Unit{}, fmt.Errorf("render %s: %w", k.name, err)
		}
		out = append(out, Unit{Job: job, Name: k.name, Data: b.Bytes()})
	}
	return out[0], out[1], nil
}

// RenderProbes renders every probe's service and timer under c (c
// resolved), in registry order, each service before its timer.
func (c Config) RenderProbes() ([]Unit, error) {
	out := make([]Unit, 0, 2*len(c.Probes))
	for _, p := range c.Probes {
		s, t, err := Render(c.ProbeJob(p))
		if err != nil {
			return nil, err
		}
		out = append(out, s, t)
	}
	return out, nil
}
