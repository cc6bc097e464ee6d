package status

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/host/paths"
)

// flags are council-status's flags; defaults resolve against h.
func flags(h paths.Home) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "state-dir", EnvVars: []string{"COUNCIL_STATE_DIR"}, Value: h.StateDir(), Usage: "the probes' state directory"},
		&cli.StringFlag{Name: "log-dir", EnvVars: []string{"COUNCIL_LOG_DIR"}, Value: h.LogDir(), Usage: "directory of the probes' council-<name>.log files; empty = don't read logs"},
		&cli.StringFlag{Name: "fallback-lock", EnvVars: []string{"COUNCIL_FALLBACK_LOCK"}, Value: paths.FallbackLock(h.StateDir()), Usage: "the fallback lock file"},
		&cli.StringFlag{Name: "probes", EnvVars: []string{"COUNCIL_STATUS_PROBES"}, Value: strings.Join(DefaultProbes, ","),
			Usage: "comma-separated probes expected on this host (a missing one is UNKNOWN: never run); other probes' state files are shown too"},
		&cli.BoolFlag{Name: "json", EnvVars: []string{"COUNCIL_STATUS_JSON"}, Usage: "print the report as JSON (one document per refresh with --watch)"},
		&cli.BoolFlag{Name: "wide", EnvVars: []string{"COUNCIL_STATUS_WIDE"},
			Usage: "print everything in full: no line cut to the screen ($COLUMNS, else the terminal's width, else 100), each channel's summary and the last logged problem"},
		&cli.DurationFlag{Name: "watch", EnvVars: []string{"COUNCIL_STATUS_WATCH"}, Usage: "refresh every `DURATION` until interrupted (0 = print once)"},
		&cli.StringFlag{Name: "color", EnvVars: []string{"COUNCIL_STATUS_COLOR"}, Value: "auto", Usage: "auto|always|never; auto = on a terminal unless NO_COLOR is set"},
	}
}

// settings are council-status's flags, resolved.
type settings struct {
	StateDir, LogDir, FallbackLock string
	// Probes are the probes expected on this host (--probes, split).
	Probes []string
	JSON   bool
	Wide   bool
	// Watch refreshes every Watch until interrupted; 0 prints once.
	Watch time.Duration
	// Color is --color: auto, always or never.
	Color string
}

// settingsFrom binds council-status's flags from c and validates them.
func settingsFrom(c *cli.Context) (settings, error) {
	s := settings{
		StateDir: c.String("state-dir"), LogDir: c.String("log-dir"), FallbackLock: c.String("fallback-lock"),
		Probes: splitList(c.String("probes")), JSON: c.Bool("json"), Wide: c.Bool("wide"),
		Watch: c.Duration("watch"), Color: c.String("color"),
	}
	return s, s.validate()
}

// validate reports the first bad setting: --color, then --watch.
func (s settings) validate() error {
	switch s.Color {
	case "auto", "always", "never", "":
	default:
		return fmt.Errorf("--color %q: want auto, always or never", s.Color)
	}
	if s.Watch < 0 {
		return fmt.Errorf("--watch %s: want a positive duration", s.Watch)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
