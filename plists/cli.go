package plists

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
)

// NoLaunchd reports whether this system has no launchd to drive: anything
// but macOS, unless a launchctl was named explicitly (a fake, in tests).
func NoLaunchd(goos string, launchctlSet bool) bool {
	return goos != "darwin" && !launchctlSet
}

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

// App is the council-plists command line.
func App(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "council-plists",
		Usage: "render, validate, install and uninstall the council probes' LaunchAgents",
		Description: "One LaunchAgent per probe, label <prefix>.council-<name>, running <bindir>/council-<name>.\n" +
			"install: render, validate (plist parser, plutil -lint where it exists, no secrets), write\n" +
			"atomically (an identical file is left unchanged), then load each with the Reload recipe:\n" +
			"bootout (not loaded is fine), bootstrap (on 5: Input/output error bootout and retry once),\n" +
			"kickstart -k. With --with-fallback it also writes the fallback server's plist, never loads\n" +
			"it, and runs launchctl disable on its label first (Disabled=true is read only at bootstrap),\n" +
			"unless the fallback lock exists (the fallback is serving).\n" +
			"Without launchd (Linux) or with --dry-run, the launchctl commands are printed\n" +
			"to stdout instead of run; progress goes to stderr.",
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Errorf("unknown command %q (render, install, uninstall)", c.Args().First())}
			}
			cli.ShowAppHelp(c)
			return usageError{errors.New("a command is required")}
		},
		Commands: []*cli.Command{
			{
				Name:         "render",
				Usage:        "render and validate the plists and write them to --destdir; run no launchctl",
				Flags:        commonFlags(),
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					in, err := installerFrom(c, stdout, stderr)
					if err != nil {
						return err
					}
					_, err = in.Render(c.Context)
					return err
				},
			},
			{
				Name:         "install",
				Usage:        "render, validate, write and load every probe's plist (idempotent)",
				Flags:        commonFlags(),
				OnUsageError: onUsageError,
				Action:       withInstaller(stdout, stderr, (*Installer).Install),
			},
			{
				Name:         "uninstall",
				Usage:        "bootout every probe's label and remove its plist (the fallback's is never touched)",
				Flags:        commonFlags(),
				OnUsageError: onUsageError,
				Action:       withInstaller(stdout, stderr, (*Installer).Uninstall),
			},
		},
	}
}

// withInstaller builds a subcommand action that runs op on the installer
// the flags describe.
func withInstaller(stdout, stderr io.Writer, op func(*Installer, context.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		in, err := installerFrom(c, stdout, stderr)
		if err != nil {
			return err
		}
		return op(in, c.Context)
	}
}

// Run runs the command line and returns the exit code: 0 done, 1 failed
// (validation, a file, launchctl), 2 bad usage.
func Run(args []string, stdout, stderr io.Writer) int {
	err := App(stdout, stderr).Run(args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "council-plists: %v\n", err)
	var usage usageError
	if errors.As(err, &usage) {
		return 2
	}
	return 1
}

type usageError struct{ error }

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }

func installerFrom(c *cli.Context, stdout, stderr io.Writer) (*Installer, error) {
	if c.NArg() > 0 {
		return nil, usageError{fmt.Errorf("%s: unexpected arguments %q", c.Command.Name, c.Args().Slice())}
	}
	cfg, err := Config{
		Home:            c.String("home"),
		BinDir:          c.String("bindir"),
		LogDir:          c.String("log-dir"),
		LabelPrefix:     c.String("label-prefix"),
		FallbackLabel:   c.String("fallback-label"),
		FallbackProgram: c.StringSlice("fallback-arg"),
	}.Resolve()
	if err != nil {
		return nil, usageError{err}
	}
	if err := launchctl.ValidateLabel(cfg.Label(cfg.Probes[0])); err != nil {
		return nil, usageError{fmt.Errorf("--label-prefix: %w", err)}
	}
	dest, err := cfg.Path(c.String("destdir"), DefaultDestDir)
	if err != nil {
		return nil, usageError{fmt.Errorf("--destdir: %w", err)}
	}
	fbDest := ""
	if c.String("fallback-destdir") != "" {
		if fbDest, err = cfg.Path(c.String("fallback-destdir"), DefaultDestDir); err != nil {
			return nil, usageError{fmt.Errorf("--fallback-destdir: %w", err)}
		}
	}
	fbLock, err := cfg.Path(c.String("fallback-lock"), DefaultFallbackLock)
	if err != nil {
		return nil, usageError{fmt.Errorf("--fallback-lock: %w", err)}
	}
	secrets, err := ReadSecrets(cfg.Home)
	if err != nil {
		return nil, err
	}
	runner := launchctl.New(c.String("launchctl"))
	runner.Out = stdout
	runner.DryRun = c.Bool("dry-run")
	if c.Command.Name != "render" && NoLaunchd(runtime.GOOS, c.IsSet("launchctl")) && !runner.DryRun {
		fmt.Fprintf(stderr, "no launchd on %s: printing the launchctl commands instead of running them\n", runtime.GOOS)
		runner.DryRun = true
	}
	return &Installer{
		Config:          cfg,
		DestDir:         dest,
		WithFallback:    c.Bool("with-fallback"),
		FallbackDestDir: fbDest,
		FallbackLock:    fbLock,
		Secrets:         secrets,
		Lint:            PlutilLint,
		Runner:          runner,
		Out:             stdout,
		Log:             stderr,
	}, nil
}
