// Package plists renders, validates and installs the council probes'
// LaunchAgent plists, one per probe of the suite's registry
// (pkg/core/suite), from one template (templates/probe.plist.tmpl) that
// takes each probe's schedule, RunAtLoad and the reasons from its entry.
//
// Each template is a text/template whose every value is XML-escaped (the
// xml function). A rendered plist is validated before it is written: parsed
// with a real plist parser (howett.net/plist) and compared with what the
// Job says it must hold (label, schedule, program, log paths, process type,
// RunAtLoad), checked for keys launchd would not know and for secrets, and
// linted with `plutil -lint` where plutil exists.
//
// The fallback server's plist (com.sanctum.server-mlx) is a template too,
// written the way incident I5 in docs/DESIGN.md taught (RunAtLoad=false,
// Disabled=true, KeepAlive=true). It is rendered on request and never
// loaded (bootstrapped or kickstarted): loading it would start the
// fallback. Install also runs `launchctl disable` on its label, because
// Disabled=true is read only at bootstrap and launchd's disabled state is
// the enforcement, unless the fallback lock says the fallback serves now.
package plists

import (
	"bytes"
	"embed"
	"encoding/xml"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/host/paths"
)

// Defaults of Config, matching the probes' default layout (docs/DESIGN.md
// section 2).
const (
	DefaultLabelPrefix   = "com.sanctum"
	DefaultFallbackLabel = "com.sanctum.server-mlx"
)

// Paths relative to home, from the host's layout (pkg/host/paths).
var (
	DefaultDestDir = paths.Home("").LaunchAgents()
	DefaultBinDir  = paths.Home("").BinDir()
	DefaultLogDir  = paths.Home("").LogDir()
	// DefaultFallbackLock is the probes' default --fallback-lock: it exists
	// while the fallback serves.
	DefaultFallbackLock = paths.FallbackLock(paths.Home("").StateDir())
)

// DefaultFallbackProgram is the fallback server's command line: the Python
// mlx_lm.server bound to loopback on the primary's port. An operator adopting
// the pattern sets their own (model, venv, launcher script).
var DefaultFallbackProgram = []string{"/opt/homebrew/bin/python3", "-m", "mlx_lm.server", "--host", "127.0.0.1", "--port", "1337"}

// Calendar is a StartCalendarInterval entry.
type Calendar struct {
	Hour   int `plist:"Hour"`
	Minute int `plist:"Minute"`
}

// Config says whose plists to render and where things are. Every path is
// absolute once Resolve has run.
type Config struct {
	// Home is the user's home: defaults resolve against it. launchd runs
	// the agents with the logged-in user's HOME, so it should be that.
	Home string
	// BinDir holds the installed council-<name> binaries.
	BinDir string
	// LogDir holds StandardOutPath/StandardErrorPath (and the probes' own
	// JSON-lines logs by default).
	LogDir string
	// LabelPrefix makes labels <prefix>.council-<name>.
	LabelPrefix string
	// FallbackLabel and FallbackProgram fill the fallback server's plist.
	FallbackLabel   string
	FallbackProgram []string
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
	if c.LabelPrefix == "" {
		c.LabelPrefix = DefaultLabelPrefix
	}
	if c.FallbackLabel == "" {
		c.FallbackLabel = DefaultFallbackLabel
	}
	if len(c.FallbackProgram) == 0 {
		c.FallbackProgram = append([]string(nil), DefaultFallbackProgram...)
	}
	if c.Probes == nil {
		c.Probes = suite.Probes
	}
	return c, nil
}

// Path expands p against Home: "" means def (relative to Home), "~" and
// "~/x" are Home-relative, anything else must be absolute.
func (c Config) Path(p, def string) (string, error) { return paths.Home(c.Home).Expand(p, def) }

// Label is the launchd label of probe p.
func (c Config) Label(p suite.Probe) string { return p.Label(c.LabelPrefix) }

// Job is one rendered plist's content: the template's data, and what
// Validate expects to read back from the rendered file.
type Job struct {
	Name  string // probe name, or "server-mlx" for the fallback
	Label string
	// Binary, Asks, Schedule and Why describe a probe in the plist's
	// comments (empty for the fallback).
	Binary, Asks, Schedule, Why string
	ProgramArguments            []string
	// StartInterval in seconds (0 = none), or StartCalendarInterval.
	StartInterval         int
	StartCalendarInterval *Calendar
	RunAtLoad             bool
	StandardOutPath       string
	StandardErrorPath     string
	// ProbeLog is the probe's own JSON-lines log; launchd's stdout/stderr
	// files must not be it (two writers, one of them not line-atomic).
	ProbeLog string
	// Fallback marks the fallback server: KeepAlive=true, RunAtLoad=false,
	// Disabled=true, no schedule, no Background.
	Fallback bool
}

// FileName is the plist's file name: <label>.plist, as launchd expects.
func (j Job) FileName() string { return j.Label + ".plist" }

// ProbeJob is the Job of probe p under c (c resolved).
func (c Config) ProbeJob(p suite.Probe) Job {
	defaultLog := filepath.Join(c.Home, DefaultLogDir)
	probeLog := filepath.Join(c.LogDir, p.Binary()+".log")
	args := []string{filepath.Join(c.BinDir, p.Binary())}
	// Only the flags whose value differs from the probe's own default.
	if c.LogDir != defaultLog {
		args = append(args, "--log-file", probeLog)
	}
	if p.ChecksAgents && c.LabelPrefix != DefaultLabelPrefix {
		args = append(args, "--label-prefix", c.LabelPrefix)
	}
	var cal *Calendar
	if p.At != nil {
		cal = &Calendar{Hour: p.At.Hour, Minute: p.At.Minute}
	}
	return Job{
		Name:                  p.Name,
		Label:                 c.Label(p),
		Binary:                p.Binary(),
		Asks:                  p.Asks,
		Schedule:              p.Schedule(),
		Why:                   p.Why,
		ProgramArguments:      args,
		StartInterval:         int(p.Every / time.Second),
		StartCalendarInterval: cal,
		RunAtLoad:             p.RunAtLoad,
		StandardOutPath:       filepath.Join(c.LogDir, p.Binary()+".out"),
		StandardErrorPath:     filepath.Join(c.LogDir, p.Binary()+".err"),
		ProbeLog:              probeLog,
	}
}

// fallbackTemplate names the fallback server's job and template.
const fallbackTemplate = "server-mlx"

// FallbackJob is the Job of the fallback server under c (c resolved).
func (c Config) FallbackJob() Job {
	return Job{
		Name:              fallbackTemplate,
		Label:             c.FallbackLabel,
		ProgramArguments:  append([]string(nil), c.FallbackProgram...),
		StandardOutPath:   filepath.Join(c.LogDir, "server-mlx.out"),
		StandardErrorPath: filepath.Join(c.LogDir, "server-mlx.err"),
		Fallback:          true,
	}
}

// Rendered is a Job rendered to plist XML.
type Rendered struct {
	Job  Job
	Data []byte
}

//go:embed templates/*.plist.tmpl
var templateFS embed.FS

// ErrUnsafeValue is returned for a value that XML 1.0 cannot carry (a
// control character, invalid UTF-8): escaping would silently change it.
var ErrUnsafeValue = errors.New("value not representable in a plist")

// xmlEscape is the templates' xml function: every rendered value goes
// through it.
func xmlEscape(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: invalid UTF-8 in %q", ErrUnsafeValue, s)
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return "", fmt.Errorf("%w: control character %U in %q", ErrUnsafeValue, r, s)
		}
	}
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// commentText is the templates' comment function: its arguments joined,
// wrapped to the plist's comment indent, refused if XML could not carry
// them in a comment ("--", a control character).
func commentText(parts ...any) (string, error) {
	s := fmt.Sprint(parts...)
	if strings.Contains(s, "--") || strings.HasSuffix(s, "-") {
		return "", fmt.Errorf("%w: \"--\" in a comment: %q", ErrUnsafeValue, s)
	}
	if _, err := xmlEscape(s); err != nil {
		return "", err
	}
	return text.Wrap(s, commentWidth, "\n\t     "), nil
}

// commentWidth is where a comment's lines wrap (the text, without the
// indent and the comment markers).
const commentWidth = 72

// Template returns the parsed template for a job named name: a probe's
// (any name but "server-mlx") or the fallback's ("server-mlx").
func Template(name string) (*template.Template, error) {
	file := "templates/probe.plist.tmpl"
	if name == fallbackTemplate {
		file = "templates/" + fallbackTemplate + ".plist.tmpl"
	}
	src, err := templateFS.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	t, err := template.New(name).Funcs(template.FuncMap{"xml": xmlEscape, "comment": commentText, "int": strconv.Itoa}).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return t, nil
}

// Render renders job with its template.
func Render(job Job) (Rendered, error) {
	t, err := Template(job.Name)
	if err != nil {
		return Rendered{}, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, job); err != nil {
		return Rendered{}, fmt.Errorf("render %s: %w", job.Label, err)
	}
	return Rendered{Job: job, Data: b.Bytes()}, nil
}

// RenderProbes renders every probe's plist under c (c resolved).
func (c Config) RenderProbes() ([]Rendered, error) {
	out := make([]Rendered, 0, len(c.Probes))
	for _, p := range c.Probes {
		r, err := Render(c.ProbeJob(p))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RenderFallback renders the fallback server's plist under c (c resolved).
func (c Config) RenderFallback() (Rendered, error) {
	return Render(c.FallbackJob())
}
