package guardian

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/host/paths"
	"github.com/sanctum/council-probes/pkg/host/primarycheck"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
)

// Defaults of the guardian's own settings, measured on the council host (docs/DESIGN.md).
const (
	defaultTimeout        = 10 * time.Second
	defaultRestartAfter   = 3
	defaultMaxRestarts    = 3
	defaultRestartWindow  = 300 * time.Second
	defaultBusyWindow     = 90 * time.Second
	defaultVerifyTimeout  = service.DefaultVerifyTimeout
	defaultVerifyInterval = service.DefaultVerifyInterval
)

// env is the environment variable of one of the guardian's flags. Not
// inlined: its 28 call sites would each carry a copy (the guardian is
// held to a size budget).
//
//go:noinline
func env(name string) []string { return []string{"COUNCIL_GUARDIAN_" + name} }

// flags are every flag of the guardian's own, in --help's order: the
// liveness, restart and fallback settings, then the wedged, crashed and
// backend checks'.
func flags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "timeout", EnvVars: env("TIMEOUT"), Value: defaultTimeout, Usage: "budget of one GET /v1/models"},
		&cli.IntFlag{Name: "restart-after", EnvVars: env("RESTART_AFTER"), Value: defaultRestartAfter, Usage: "restart after this many consecutive failures"},
		&cli.IntFlag{Name: "max-restarts", EnvVars: env("MAX_RESTARTS"), Value: defaultMaxRestarts, Usage: "most restarts per --restart-window; the next is refused (rate_limit, exit 2)"},
		&cli.DurationFlag{Name: "restart-window", EnvVars: env("RESTART_WINDOW"), Value: defaultRestartWindow, Usage: "window of --max-restarts"},
		&cli.DurationFlag{Name: "verify-timeout", EnvVars: env("VERIFY_TIMEOUT"), Value: defaultVerifyTimeout, Usage: "how long a restart or promotion may take to serve again before it counts as unverified"},
		&cli.DurationFlag{Name: "verify-interval", EnvVars: env("VERIFY_INTERVAL"), Value: defaultVerifyInterval, Usage: "pause between verify probes"},
		&cli.DurationFlag{Name: "busy-window", EnvVars: env("BUSY_WINDOW"), Value: defaultBusyWindow, Usage: "a request completed this recently in --primary-log defers escalation (0 = never)"},
		&cli.StringFlag{Name: "busy-marker", EnvVars: env("BUSY_MARKER"), Value: defaultBusyMarker, Usage: "text of a completed-request line in --primary-log (lines start with an RFC 3339 time)"},
		&cli.StringSliceFlag{Name: "busy-ignore", EnvVars: env("BUSY_IGNORE"), Value: cli.NewStringSlice(defaultBusyIgnore...),
			Usage: "completed-request lines containing this do not count as busy (repeatable; default: the probes' own liveness requests)"},
		&cli.Int64Flag{Name: "log-tail-bytes", EnvVars: env("LOG_TAIL_BYTES"), Value: defaultTailBytes, Usage: "how much of the end of --primary-log the busy and fatal scans read"},
		&cli.StringSliceFlag{Name: "fatal-signature", EnvVars: env("FATAL_SIGNATURES"), Value: cli.NewStringSlice(defaultFatalSignatures...),
			Usage: "log text of a primary that can never serve (repeatable, case-insensitive); found in the log tail -> promote the fallback"},
		&cli.StringSliceFlag{Name: "restart-signature", EnvVars: env("RESTART_SIGNATURES"), Value: cli.NewStringSlice(defaultRestartSignatures...),
			Usage: "log text of a crash a restart recovers from (repeatable, case-insensitive): reported as the cause; newer than a --fatal-signature line, it restarts instead of promoting"},
		&cli.DurationFlag{Name: "startup-grace", EnvVars: env("STARTUP_GRACE"), Value: defaultStartupGrace,
			Usage: "do not restart a primary that its service manager started less than this long ago (it is still loading); failures still count and alert (0 = off)"},
		&cli.StringFlag{Name: "fallback-url", EnvVars: env("FALLBACK_URL"), Usage: "URL probed while the fallback lock exists (bearer transport; --model is not required of the fallback); empty = --url"},
		// The wedged check (wedged.go).
		&cli.IntFlag{Name: "wedged-after", EnvVars: env("WEDGED_AFTER"), Value: defaultWedgedAfter,
			Usage: "consecutive canary ticks of hang or stream_stall before the primary's CPU is sampled (0 = wedged check off)"},
		&cli.DurationFlag{Name: "cpu-window", EnvVars: env("CPU_WINDOW"), Value: defaultCPUWindow, Usage: "how long the primary's CPU is sampled"},
		&cli.Float64Flag{Name: "idle-cpu", EnvVars: env("IDLE_CPU"), Value: defaultIdleCPU,
			Usage: "below this fraction of one core over --cpu-window, a hung primary is wedged (restarted); above, it is working"},
		&cli.DurationFlag{Name: "max-busy", EnvVars: env("MAX_BUSY"), Value: defaultMaxBusy,
			Usage: "a hang with a busy CPU this long is a runaway and is restarted like a wedge"},
		&cli.StringFlag{Name: "canary-state", EnvVars: env("CANARY_STATE"), Usage: "the canary's state file, read only (empty = <state-dir>/council-canary.json)"},
		&cli.DurationFlag{Name: "canary-interval", EnvVars: env("CANARY_INTERVAL"), Value: defaultCanaryInterval,
			Usage: "the canary's schedule, when its state does not say; a canary state older than 3 intervals is no evidence"},
		// The crashed check (crashed.go).
		&cli.IntFlag{Name: "crash-loop", EnvVars: env("CRASH_LOOP"), Value: defaultCrashLoop,
			Usage: "this many crashes of the primary within --crash-window alert at error (one is a warn)"},
		&cli.DurationFlag{Name: "crash-window", EnvVars: env("CRASH_WINDOW"), Value: defaultCrashWindow, Usage: "window of --crash-loop"},
		// The backend's own checks (backend.go, gpu.go).
		&cli.DurationFlag{Name: "max-loading", EnvVars: env("MAX_LOADING"), Value: defaultMaxLoading,
			Usage: "a server that says it is loading its model is not restarted for this long; after, it is a failure"},
		&cli.StringFlag{Name: "gpu", EnvVars: env("GPU"), Value: string(gpuAuto),
			Usage: "model_on_cpu: auto warns when a model has less of itself in GPU memory than it had before on this host; required whenever it is not all in GPU memory; off never"},
	}
}

// settings are the guardian's flags, resolved: its own, then the wedged,
// crashed and backend checks'. restore-primary reads the same ones
// (restoreSettings).
type settings struct {
	Timeout         time.Duration
	RestartAfter    int
	MaxRestarts     int
	RestartWindow   time.Duration
	VerifyTimeout   time.Duration
	VerifyInterval  time.Duration
	BusyWindow      time.Duration
	BusyMarker      string
	BusyIgnore      []string
	TailBytes       int64
	FatalSignatures []string
	// RestartSignatures are crash lines that call for a restart, not a
	// promotion (the restart rows of FatalSignatures).
	RestartSignatures []string
	FallbackURL       string
	StartupGrace      time.Duration

	// Wedged are the wedged check's settings (wedged.go).
	Wedged wedgedSettings
	// CrashLoop crashes within CrashWindow alert at error (crashed.go).
	CrashLoop   int
	CrashWindow time.Duration
	// MaxLoading is how long a server may say it is loading (backend.go);
	// GPU is --gpu (gpu.go).
	MaxLoading time.Duration
	GPU        gpuMode
}

// wedgedSettings are the wedged check's flags, resolved.
type wedgedSettings struct {
	After          int
	CPUWindow      time.Duration
	IdleCPU        float64
	MaxBusy        time.Duration
	CanaryState    string
	CanaryInterval time.Duration
}

// settingsFrom binds the guardian's flags from c (for restore-primary, its
// parents'), once per tick, and validates them. An empty --canary-state is
// the canary's state file in --state-dir.
func settingsFrom(c *cli.Context) (settings, error) {
	s := settings{
		Timeout: c.Duration("timeout"), RestartAfter: c.Int("restart-after"),
		MaxRestarts: c.Int("max-restarts"), RestartWindow: c.Duration("restart-window"),
		VerifyTimeout: c.Duration("verify-timeout"), VerifyInterval: c.Duration("verify-interval"),
		BusyWindow: c.Duration("busy-window"), BusyMarker: c.String("busy-marker"), BusyIgnore: c.StringSlice("busy-ignore"),
		TailBytes: c.Int64("log-tail-bytes"), FatalSignatures: c.StringSlice("fatal-signature"),
		RestartSignatures: c.StringSlice("restart-signature"),
		FallbackURL:       c.String("fallback-url"), StartupGrace: c.Duration("startup-grace"),
		Wedged: wedgedSettings{
			After: c.Int("wedged-after"), CPUWindow: c.Duration("cpu-window"), IdleCPU: c.Float64("idle-cpu"),
			MaxBusy: c.Duration("max-busy"), CanaryState: c.String("canary-state"), CanaryInterval: c.Duration("canary-interval"),
		},
		CrashLoop: c.Int("crash-loop"), CrashWindow: c.Duration("crash-window"),
		MaxLoading: c.Duration("max-loading"), GPU: gpuMode(c.String("gpu")),
	}
	if s.Wedged.CanaryState == "" {
		s.Wedged.CanaryState = paths.StateFile(c.String("state-dir"), "canary")
	}
	return s, s.validate()
}

// validate reports the first bad setting: the guardian's own, --gpu, then
// the wedged and crashed checks' (those checks run only on a healthy
// tick; their flags are checked on every one, so a typo is caught at
// once).
func (s settings) validate() error {
	switch {
	case s.Timeout <= 0:
		return fmt.Errorf("bad --timeout %s: want a positive duration", s.Timeout)
	case s.RestartAfter < 1:
		return fmt.Errorf("bad --restart-after %d: want at least 1", s.RestartAfter)
	case s.MaxRestarts < 0:
		return fmt.Errorf("bad --max-restarts %d: want 0 or more", s.MaxRestarts)
	case s.RestartWindow <= 0:
		return fmt.Errorf("bad --restart-window %s: want a positive duration", s.RestartWindow)
	case s.VerifyTimeout <= 0:
		return fmt.Errorf("bad --verify-timeout %s: want a positive duration", s.VerifyTimeout)
	case s.VerifyInterval <= 0:
		return fmt.Errorf("bad --verify-interval %s: want a positive duration", s.VerifyInterval)
	case s.StartupGrace < 0:
		return fmt.Errorf("bad --startup-grace %s: want a positive duration, or 0 to turn it off", s.StartupGrace)
	case s.TailBytes <= 0:
		return fmt.Errorf("bad --log-tail-bytes %d: want at least 1", s.TailBytes)
	}
	if _, err := parseGPUMode(string(s.GPU)); err != nil {
		return err
	}
	w := s.Wedged
	switch {
	case w.After < 0:
		return fmt.Errorf("bad --wedged-after %d: want 0 or more", w.After)
	case w.CPUWindow <= 0:
		return fmt.Errorf("bad --cpu-window %s: want a positive duration", w.CPUWindow)
	case w.IdleCPU <= 0 || w.IdleCPU > 1:
		return fmt.Errorf("bad --idle-cpu %g: want a fraction of one core, more than 0 and at most 1", w.IdleCPU)
	case w.MaxBusy < 0:
		return fmt.Errorf("bad --max-busy %s: want 0 or a positive duration", w.MaxBusy)
	case w.CanaryInterval <= 0:
		return fmt.Errorf("bad --canary-interval %s: want a positive duration", w.CanaryInterval)
	case s.CrashLoop < 0:
		return fmt.Errorf("bad --crash-loop %d: want 0 or more", s.CrashLoop)
	case s.CrashWindow <= 0:
		return fmt.Errorf("bad --crash-window %s: want a positive duration", s.CrashWindow)
	}
	return nil
}

// restoreSettings are restore-primary's: the guardian's settings, the
// common flags, and its own (--primary-plist, --dry-run at either level,
// the primary checks' flags with the config file's [integrity] values).
type restoreSettings struct {
	settings
	Common probe.Common
	// DryRun: --dry-run on the subcommand or the guardian.
	DryRun bool
	// PrimaryPlist is --primary-plist, else the primary's label's plist
	// in ~/Library/LaunchAgents.
	PrimaryPlist string
	// Primary are the primary checks' settings, of Common.PrimaryBinary.
	Primary primarycheck.Settings
}

// restoreSettingsFrom binds restore-primary's flags from c and validates
// them.
func restoreSettingsFrom(c *cli.Context) (restoreSettings, error) {
	s, err := settingsFrom(c)
	if err != nil {
		return restoreSettings{}, err
	}
	if err := applyIntegrityConfig(c); err != nil {
		return restoreSettings{}, err
	}
	r := restoreSettings{settings: s, Common: probe.CommonFrom(c), DryRun: anyBool(c, "dry-run"), PrimaryPlist: c.String("primary-plist")}
	if r.PrimaryPlist == "" {
		r.PrimaryPlist = filepath.Join(paths.UserHome().LaunchAgents(), r.Common.PrimaryLabel+".plist")
	}
	r.Primary = primarycheck.SettingsFrom(c, r.Common.PrimaryBinary)
	return r, nil
}

// anyBool reports whether the bool flag name is set true at any level of
// c's lineage (a subcommand flag shadows its parent's of the same name).
func anyBool(c *cli.Context, name string) bool {
	for _, cc := range c.Lineage() {
		if cc.Bool(name) {
			return true
		}
	}
	return false
}

// applyIntegrityConfig gives the primary-check flags that neither the
// command line nor the environment set their value from the config file's
// [integrity] section, else its global section: restore-primary must judge
// the primary with the settings council-integrity runs with, or it would
// restore a binary integrity demotes again. (The probe contract applies
// the config file to the guardian's own flags only.)
func applyIntegrityConfig(c *cli.Context) error {
	path := c.String("config")
	// As the probe contract reads it: a FIFO must not hang the tick.
	f, err := atomicfile.OpenRegular(path)
	if errors.Is(err, os.ErrNotExist) || path == "" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	defer f.Close()
	cf, err := probe.ParseConfig(f)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	for _, fl := range primarycheck.Flags() {
		name := fl.Names()[0]
		if c.IsSet(name) {
			continue
		}
		for _, section := range []string{"integrity", ""} {
			if v, ok := cf[section][name]; ok {
				if err := c.Set(name, v); err != nil {
					return fmt.Errorf("config %s: %s: %w", path, name, err)
				}
				break
			}
		}
	}
	return nil
}
