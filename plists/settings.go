package plists

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
)

// commonFlags are the flags of every subcommand (render, install,
// uninstall).
func commonFlags() []cli.Flag {
	home, _ := os.UserHomeDir()
	return []cli.Flag{
		&cli.StringFlag{Name: "destdir", EnvVars: []string{"COUNCIL_PLIST_DIR"}, Value: "~/" + DefaultDestDir, Usage: "directory the probes' plists are written to"},
		&cli.StringFlag{Name: "bindir", EnvVars: []string{"COUNCIL_BINDIR"}, Value: "~/" + DefaultBinDir, Usage: "directory the council-<name> binaries are installed in (make install's PREFIX)"},
		&cli.StringFlag{Name: "log-dir", EnvVars: []string{"COUNCIL_LOG_DIR"}, Value: "~/" + DefaultLogDir, Usage: "directory of StandardOutPath/StandardErrorPath; a non-default one is also passed to each probe as --log-file"},
		&cli.StringFlag{Name: "label-prefix", EnvVars: []string{"COUNCIL_LABEL_PREFIX"}, Value: DefaultLabelPrefix, Usage: "labels are <prefix>.council-<name>"},
		&cli.StringFlag{Name: "home", EnvVars: []string{"HOME"}, Value: home, Usage: "home the ~ paths resolve against; launchd runs the agents with the logged-in user's HOME, so keep it that"},
		&cli.StringFlag{Name: "launchctl", EnvVars: []string{"COUNCIL_LAUNCHCTL"}, Value: launchctl.DefaultPath, Usage: "path of the launchctl binary; naming one enables loading on a system without launchd (a fake, in tests)"},
		&cli.BoolFlag{Name: "dry-run", EnvVars: []string{"COUNCIL_DRY_RUN"}, Usage: "run no launchctl command: print each one; plists are still rendered, validated and written to --destdir (default where there is no launchd)"},
		&cli.BoolFlag{Name: "with-fallback", Usage: "also write the fallback server's plist (RunAtLoad=false, Disabled=true, KeepAlive=true) and, on install, launchctl disable its label unless the fallback lock exists; it is never loaded, and an existing one that differs is kept"},
		&cli.StringFlag{Name: "fallback-destdir", EnvVars: []string{"COUNCIL_FALLBACK_PLIST_DIR"}, Usage: "directory for the fallback plist (default --destdir, where the probes' --fallback-plist expects it)"},
		&cli.StringFlag{Name: "fallback-label", EnvVars: []string{"COUNCIL_FALLBACK_LABEL"}, Value: DefaultFallbackLabel, Usage: "launchd label of the fallback server"},
		&cli.StringFlag{Name: "fallback-lock", EnvVars: []string{"COUNCIL_FALLBACK_LOCK"}, Value: "~/" + DefaultFallbackLock, Usage: "the probes' fallback lock: while it exists the fallback serves, and install --with-fallback does not launchctl disable it"},
		&cli.StringSliceFlag{Name: "fallback-arg", Usage: "the fallback server's ProgramArguments, one per flag (default: " + fmt.Sprint(DefaultFallbackProgram) + ")"},
	}
}

// settings are council-plists' flags as given, for the subcommand
// Command.
type settings struct {
	Command string
	// Config holds --home, --bindir, --log-dir, --label-prefix,
	// --fallback-label and --fallback-arg, not yet resolved.
	Config                                 Config
	DestDir, FallbackDestDir, FallbackLock string
	// Launchctl is the launchctl to run; LaunchctlSet says one was named
	// (a fake, in tests), which enables loading without launchd.
	Launchctl    string
	LaunchctlSet bool
	DryRun       bool
	WithFallback bool
}

// settingsFrom binds the subcommand's flags from c and validates them.
func settingsFrom(c *cli.Context) (settings, error) {
	s := settings{
		Command: c.Command.Name,
		Config: Config{
			Home: c.String("home"), BinDir: c.String("bindir"), LogDir: c.String("log-dir"),
			LabelPrefix: c.String("label-prefix"), FallbackLabel: c.String("fallback-label"), FallbackProgram: c.StringSlice("fallback-arg"),
		},
		DestDir: c.String("destdir"), FallbackDestDir: c.String("fallback-destdir"), FallbackLock: c.String("fallback-lock"),
		Launchctl: c.String("launchctl"), LaunchctlSet: c.IsSet("launchctl"),
		DryRun: c.Bool("dry-run"), WithFallback: c.Bool("with-fallback"),
	}
	return s, s.validate()
}

// validate reports the first setting that cannot be resolved (resolve),
// as a usage error.
func (s settings) validate() error {
	_, err := s.resolve()
	return err
}

// resolvedSettings are the settings with every path expanded against the
// home and the defaults filled in.
type resolvedSettings struct {
	Config                                 Config
	DestDir, FallbackDestDir, FallbackLock string
}

// resolve expands the settings' paths: the home first, then the config's
// paths, the label prefix (the first probe's label must be valid),
// --destdir, --fallback-destdir and --fallback-lock. Each failure is a
// usage error naming its flag.
func (s settings) resolve() (resolvedSettings, error) {
	var r resolvedSettings
	cfg, err := s.Config.Resolve()
	if err != nil {
		return r, usageError{err}
	}
	r.Config = cfg
	if err := launchctl.ValidateLabel(cfg.Label(cfg.Probes[0])); err != nil {
		return r, usageError{fmt.Errorf("--label-prefix: %w", err)}
	}
	if r.DestDir, err = cfg.Path(s.DestDir, DefaultDestDir); err != nil {
		return r, usageError{fmt.Errorf("--destdir: %w", err)}
	}
	if s.FallbackDestDir != "" {
		if r.FallbackDestDir, err = cfg.Path(s.FallbackDestDir, DefaultDestDir); err != nil {
			return r, usageError{fmt.Errorf("--fallback-destdir: %w", err)}
		}
	}
	if r.FallbackLock, err = cfg.Path(s.FallbackLock, DefaultFallbackLock); err != nil {
		return r, usageError{fmt.Errorf("--fallback-lock: %w", err)}
	}
	return r, nil
}
