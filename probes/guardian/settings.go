package guardian

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/host/service"
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

// env is the environment variable of one of the guardian's flags.
func env(name string) []string { return []string{"COUNCIL_GUARDIAN_" + name} }

// flags are the guardian's own flags; the wedged, crashed and backend
// checks add theirs (wedgedFlags, crashedFlags, backendFlags).
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
	}
}

// settings are the guardian's own flags, resolved.
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
}

// settingsFrom reads and checks the guardian's own flags, from c or, for
// restore-primary, its parents: the subcommand has no tick, so it takes the
// cli.Context, not the *probe.Tick the other probes' settingsFrom take.
func settingsFrom(c *cli.Context) (settings, error) {
	s := settings{
		Timeout: c.Duration("timeout"), RestartAfter: c.Int("restart-after"),
		MaxRestarts: c.Int("max-restarts"), RestartWindow: c.Duration("restart-window"),
		VerifyTimeout: c.Duration("verify-timeout"), VerifyInterval: c.Duration("verify-interval"),
		BusyWindow: c.Duration("busy-window"), BusyMarker: c.String("busy-marker"), BusyIgnore: c.StringSlice("busy-ignore"),
		TailBytes: c.Int64("log-tail-bytes"), FatalSignatures: c.StringSlice("fatal-signature"),
		RestartSignatures: c.StringSlice("restart-signature"),
		FallbackURL:       c.String("fallback-url"), StartupGrace: c.Duration("startup-grace"),
	}
	switch {
	case s.Timeout <= 0:
		return s, fmt.Errorf("bad --timeout %s: want a positive duration", s.Timeout)
	case s.RestartAfter < 1:
		return s, fmt.Errorf("bad --restart-after %d: want at least 1", s.RestartAfter)
	case s.MaxRestarts < 0:
		return s, fmt.Errorf("bad --max-restarts %d: want 0 or more", s.MaxRestarts)
	case s.RestartWindow <= 0:
		return s, fmt.Errorf("bad --restart-window %s: want a positive duration", s.RestartWindow)
	case s.VerifyTimeout <= 0:
		return s, fmt.Errorf("bad --verify-timeout %s: want a positive duration", s.VerifyTimeout)
	case s.VerifyInterval <= 0:
		return s, fmt.Errorf("bad --verify-interval %s: want a positive duration", s.VerifyInterval)
	case s.StartupGrace < 0:
		return s, fmt.Errorf("bad --startup-grace %s: want a positive duration, or 0 to turn it off", s.StartupGrace)
	case s.TailBytes <= 0:
		return s, fmt.Errorf("bad --log-tail-bytes %d: want at least 1", s.TailBytes)
	}
	if _, err := parseGPUMode(c.String("gpu")); err != nil {
		return s, err
	}
	return s, nil
}
