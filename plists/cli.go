package plists

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/host/secretscan"
)

// NoLaunchd reports whether this system has no launchd to drive: anything
// but macOS, unless a launchctl was named explicitly (a fake, in tests).
func NoLaunchd(goos string, launchctlSet bool) bool {
	return goos != "darwin" && !launchctlSet
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
	s, err := settingsFrom(c)
	if err != nil {
		return nil, err
	}
	r, err := s.resolve()
	if err != nil {
		return nil, err
	}
	secrets, err := secretscan.Read(r.Config.Home)
	if err != nil {
		return nil, err
	}
	runner := launchctl.New(s.Launchctl)
	runner.Out = stdout
	runner.DryRun = s.DryRun
	if s.Command != "render" && NoLaunchd(runtime.GOOS, s.LaunchctlSet) && !runner.DryRun {
		fmt.Fprintf(stderr, "no launchd on %s: printing the launchctl commands instead of running them\n", runtime.GOOS)
		runner.DryRun = true
	}
	return &Installer{
		Config:          r.Config,
		DestDir:         r.DestDir,
		WithFallback:    s.WithFallback,
		FallbackDestDir: r.FallbackDestDir,
		FallbackLock:    r.FallbackLock,
		Secrets:         secrets,
		Lint:            PlutilLint,
		Runner:          runner,
		Out:             stdout,
		Log:             stderr,
	}, nil
}
