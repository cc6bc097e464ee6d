package units

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// installFlags are the flags of render, install and uninstall.
func installFlags() []cli.Flag {
	home, _ := os.UserHomeDir()
	return []cli.Flag{
		&cli.StringFlag{Name: "destdir", EnvVars: []string{"COUNCIL_UNIT_DIR"}, Usage: "directory the units are written to (default $XDG_CONFIG_HOME/systemd/user, else ~/" + DefaultDestDir + ", where the user manager reads them)"},
		&cli.StringFlag{Name: "bindir", EnvVars: []string{"COUNCIL_BINDIR"}, Value: "~/" + DefaultBinDir, Usage: "directory the council-<name> binaries are installed in (make install's PREFIX)"},
		&cli.StringFlag{Name: "log-dir", EnvVars: []string{"COUNCIL_LOG_DIR"}, Value: "~/" + DefaultLogDir, Usage: "the probes' JSON-lines log directory; a non-default one is passed to each probe as --log-file"},
		&cli.StringFlag{Name: "home", EnvVars: []string{"HOME"}, Value: home, Usage: "home the ~ paths resolve against; the user manager runs the services with the user's HOME, so keep it that"},
		&cli.StringFlag{Name: "systemctl", EnvVars: []string{"COUNCIL_SYSTEMCTL"}, Value: DefaultSystemctl, Usage: "path of the systemctl binary; naming one enables it on a system without systemd (a fake, in tests)"},
		&cli.BoolFlag{Name: "dry-run", EnvVars: []string{"COUNCIL_DRY_RUN"}, Usage: "run no systemctl command: print each one; the units are still rendered, validated and written to --destdir (default where there is no systemd)"},
	}
}

// doctorFlags are the doctor's flags.
func doctorFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "user", Usage: "the probes' user (default: the user running the doctor)"},
		&cli.StringFlag{Name: "loginctl", Value: "loginctl", Usage: "path of the loginctl binary"},
		&cli.StringFlag{Name: "systemctl", EnvVars: []string{"COUNCIL_SYSTEMCTL"}, Value: DefaultSystemctl, Usage: "path of the systemctl binary"},
	}
}

// polkitFlags are the polkit rule's flags.
func polkitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "primary", Usage: "the primary server's system unit (ollama or ollama.service); required"},
		&cli.StringFlag{Name: "fallback", Usage: "the fallback server's system unit; required"},
		&cli.StringFlag{Name: "user", Usage: "the user the probes run as; required"},
		&cli.StringFlag{Name: "output", Usage: "write the rule to this file (mode 0644) instead of stdout, e.g. /etc/polkit-1/rules.d/" + PolkitFile},
	}
}

// settings are council-units' flags as given, for the subcommand Command:
// a subcommand's flags are its own, the others' fields stay empty.
type settings struct {
	Command string

	// render, install, uninstall.
	Home, BinDir, LogDir, DestDir string
	// Systemctl is the systemctl to run (the doctor's too); SystemctlSet
	// says one was named (a fake, in tests), which enables it without
	// systemd.
	Systemctl    string
	SystemctlSet bool
	DryRun       bool

	// doctor: User (also polkit's) and Loginctl.
	User     string
	Loginctl string

	// polkit.
	Primary, Fallback, Output string
}

// settingsFrom binds the subcommand's flags from c and validates them.
func settingsFrom(c *cli.Context) (settings, error) {
	s := settings{
		Command: c.Command.Name,
		Home:    c.String("home"), BinDir: c.String("bindir"), LogDir: c.String("log-dir"), DestDir: c.String("destdir"),
		Systemctl: c.String("systemctl"), SystemctlSet: c.IsSet("systemctl"), DryRun: c.Bool("dry-run"),
		User: c.String("user"), Loginctl: c.String("loginctl"),
		Primary: c.String("primary"), Fallback: c.String("fallback"), Output: c.String("output"),
	}
	return s, s.validate()
}

// validate reports the subcommand's first bad setting, as a usage error:
// the install paths (resolve), the doctor's --user name, the polkit rule's
// required flags (their values are the rule's to judge).
func (s settings) validate() error {
	switch s.Command {
	case "doctor":
		if s.User != "" {
			if err := ValidateUserName(s.User); err != nil {
				return usageError{fmt.Errorf("--user: %w", err)}
			}
		}
	case "polkit":
		for _, f := range []struct{ name, value string }{{"primary", s.Primary}, {"fallback", s.Fallback}, {"user", s.User}} {
			if f.value == "" {
				return usageError{fmt.Errorf("polkit: --%s is required", f.name)}
			}
		}
	default:
		_, _, _, err := s.resolve()
		return err
	}
	return nil
}

// resolve expands the install paths against the home: the config, the
// unit directories the user manager reads, and --destdir (default the
// first of them).
func (s settings) resolve() (cfg Config, dirs []string, dest string, err error) {
	cfg, err = Config{Home: s.Home, BinDir: s.BinDir, LogDir: s.LogDir}.Resolve()
	if err != nil {
		return cfg, nil, "", usageError{err}
	}
	dirs = UserUnitDirs(cfg.Home, os.Getenv("XDG_CONFIG_HOME"))
	dest = dirs[0]
	if s.DestDir != "" {
		if dest, err = cfg.Path(s.DestDir, DefaultDestDir); err != nil {
			return cfg, nil, "", usageError{fmt.Errorf("--destdir: %w", err)}
		}
	}
	return cfg, dirs, dest, nil
}
