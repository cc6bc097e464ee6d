package units

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/host/secretscan"
)

// NoSystemd reports whether this system has no systemd to drive: anything
// but Linux, unless a systemctl was named explicitly (a fake, in tests).
func NoSystemd(goos string, systemctlSet bool) bool {
	return goos != "linux" && !systemctlSet
}

// App is the council-units command line.
func App(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "council-units",
		Usage: "render, validate, install and uninstall the council probes' systemd user units; check that they can run; render the polkit rule for system units",
		Description: "One Type=oneshot service and one timer per probe: council-<name>.service runs <bindir>/council-<name>,\n" +
			"council-<name>.timer starts it on the probe's schedule.\n" +
			"install: render, validate (read back, no Environment=, no secrets; systemd-analyze --user verify where it\n" +
			"exists and the binaries are installed), write atomically (an identical file is left unchanged), then\n" +
			"systemctl --user daemon-reload and systemctl --user enable --now each timer.\n" +
			"Without systemd (macOS) or with --dry-run, the systemctl commands are printed to stdout instead of run;\n" +
			"progress goes to stderr.",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Errorf("unknown command %q (render, install, uninstall, doctor, polkit)", c.Args().First())}
			}
			cli.ShowAppHelp(c)
			return usageError{errors.New("a command is required")}
		},
		Commands: []*cli.Command{
			{
				Name:         "render",
				Usage:        "render and validate the units and write them to --destdir; run no systemctl",
				Flags:        installFlags(),
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
				Usage:        "render, validate and write every probe's service and timer, daemon-reload, enable --now each timer (idempotent)",
				Flags:        installFlags(),
				OnUsageError: onUsageError,
				Action:       withInstaller(stdout, stderr, (*Installer).Install),
			},
			{
				Name:         "uninstall",
				Usage:        "disable --now every probe's timer, remove its units, daemon-reload (a running tick is left to finish)",
				Flags:        installFlags(),
				OnUsageError: onUsageError,
				Action:       withInstaller(stdout, stderr, (*Installer).Uninstall),
			},
			doctorCommand(stdout),
			polkitCommand(stdout, stderr),
		},
	}
}

// doctorCommand is `council-units doctor`.
func doctorCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:         "doctor",
		Usage:        "say whether the user units will run: systemd, linger, the user manager, systemctl --user (exit 0 fine, 1 warn, 3 cannot tell)",
		Flags:        doctorFlags(),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			d, err := doctorFrom(c)
			if err != nil {
				return err
			}
			fs := Diagnose(d.Observe(c.Context))
			WriteFindings(stdout, fs)
			if code := DoctorExit(fs); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}

// polkitCommand is `council-units polkit`.
func polkitCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:         "polkit",
		Usage:        "render the polkit rule that lets --user start, stop and restart exactly the --primary and --fallback system units",
		Flags:        polkitFlags(),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Errorf("polkit: unexpected arguments %q", c.Args().Slice())}
			}
			s, err := settingsFrom(c)
			if err != nil {
				return err
			}
			r, err := NewPolkitRule(s.User, s.Primary, s.Fallback)
			if err != nil {
				return usageError{err}
			}
			data, err := r.Render()
			if err != nil {
				return err
			}
			if out := s.Output; out != "" {
				if err := atomicfile.WriteFile(out, data, UnitMode); err != nil {
					return err
				}
				fmt.Fprintf(stderr, "written %s\n", out)
				return nil
			}
			_, err = stdout.Write(data)
			return err
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
// (validation, a file, systemctl), 2 bad usage; doctor: 0 fine, 1 warn, 3
// cannot tell.
func Run(args []string, stdout, stderr io.Writer) int {
	err := App(stdout, stderr).Run(args)
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintf(stderr, "council-units: %v\n", err)
	var usage usageError
	if errors.As(err, &usage) {
		return 2
	}
	return 1
}

type usageError struct{ error }

// exitCode is a command's deliberate exit status (the doctor's verdict).
type exitCode int

func (e exitCode) Error() string { return "exit " + strconv.Itoa(int(e)) }

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }

func installerFrom(c *cli.Context, stdout, stderr io.Writer) (*Installer, error) {
	if c.NArg() > 0 {
		return nil, usageError{fmt.Errorf("%s: unexpected arguments %q", c.Command.Name, c.Args().Slice())}
	}
	s, err := settingsFrom(c)
	if err != nil {
		return nil, err
	}
	cfg, dirs, dest, err := s.resolve()
	if err != nil {
		return nil, err
	}
	secrets, err := secretscan.Read(cfg.Home)
	if err != nil {
		return nil, err
	}
	sc := &Systemctl{Path: s.Systemctl, Out: stdout, DryRun: s.DryRun, Exec: ExecCommand}
	if s.Command != "render" && NoSystemd(runtime.GOOS, s.SystemctlSet) && !sc.DryRun {
		fmt.Fprintf(stderr, "no systemd on %s: printing the systemctl commands instead of running them\n", runtime.GOOS)
		sc.DryRun = true
	}
	return &Installer{
		Config:    cfg,
		DestDir:   dest,
		UnitDirs:  dirs,
		Secrets:   secrets,
		Verify:    VerifyFiles,
		Systemctl: sc,
		Out:       stdout,
		Log:       stderr,
	}, nil
}

// doctorFrom resolves the doctor's user: --user, or the user running it.
// A name that is not a portable login name is asked about by uid, which
// loginctl takes too.
func doctorFrom(c *cli.Context) (Doctor, error) {
	if c.NArg() > 0 {
		return Doctor{}, usageError{fmt.Errorf("doctor: unexpected arguments %q", c.Args().Slice())}
	}
	s, err := settingsFrom(c)
	if err != nil {
		return Doctor{}, err
	}
	d := Doctor{UID: os.Getuid(), Self: true, Loginctl: s.Loginctl, Systemctl: s.Systemctl,
		Root: "/", Timeout: 10 * time.Second, Exec: ExecCommand}
	if name := s.User; name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return Doctor{}, usageError{fmt.Errorf("--user: %w", err)}
		}
		if d.UID, err = strconv.Atoi(u.Uid); err != nil {
			return Doctor{}, fmt.Errorf("--user %s: uid %q: %w", name, u.Uid, err)
		}
		d.User, d.Self = name, d.UID == os.Getuid()
		return d, nil
	}
	d.User = strconv.Itoa(d.UID)
	if u, err := user.LookupId(d.User); err == nil && ValidateUserName(u.Username) == nil {
		d.User = u.Username
	} else if name := os.Getenv("USER"); ValidateUserName(name) == nil {
		if u, err := user.Lookup(name); err == nil && u.Uid == d.User {
			d.User = name
		}
	}
	return d, nil
}
