package guardian

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/eventlog"
	"github.com/sanctum/council-probes/pkg/launchctl"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/transport"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:  "restore-primary",
		Usage: "operator: switch serving back from the fallback to the fixed primary",
		Description: `Run by hand once the primary is fixed. Checks that --primary-binary exists
and is executable (nothing changes otherwise), then under the shared
remediation lock: bootout and disable the fallback (so a reboot cannot
start it), reload the primary from --primary-plist (bootout, bootstrap with
the EIO recovery, kickstart -k), verify that it serves (--verify-timeout)
and remove the fallback lock. The lock is kept if the primary does not
serve. --dry-run prints the launchctl argv instead of running it.

Exit status: 0 restored (or dry run); 2 refused or failed, a human is
needed (primary check failed and nothing changed; launchctl failed; the
primary does not serve, fallback lock kept); 3 bad configuration.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "primary-plist", EnvVars: []string{"COUNCIL_PRIMARY_PLIST"},
				Usage: "plist of the primary (default: ~/Library/LaunchAgents/<primary-label>.plist)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the launchctl argv instead of running it (same as the global --dry-run)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("restore-primary: unexpected argument %q", c.Args().First())
			}
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return RestorePrimary(ctx, c, c.App.Writer)
		},
	}
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

// RestorePrimary runs the RestorePrimary recipe with the settings in c,
// prints each step to out and logs restore_primary / primary_restored /
// restore_failed to the guardian's event log.
func RestorePrimary(ctx context.Context, c *cli.Context, out io.Writer) error {
	start := time.Now()
	s, err := SettingsFrom(c)
	if err != nil {
		return err
	}
	dry := anyBool(c, "dry-run")
	label, home := c.String("primary-label"), os.Getenv("HOME")
	plist := c.String("primary-plist")
	if plist == "" {
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		plist = filepath.Join(home, "Library", "LaunchAgents", label+".plist")
	}
	log, closeLog, err := restoreLog(c, out, start)
	if err != nil {
		return err
	}
	defer closeLog()

	client, err := transport.Resolve(transport.Config{
		Mode: transport.Mode(c.String("transport")), RequireMTLS: c.Bool("require-mtls"),
		URL: c.String("url"), MTLSURL: c.String("mtls-url"), CACert: c.String("ca-cert"),
		ClientCert: c.String("client-cert"), ClientKey: c.String("client-key"), TokenFile: c.String("token-file"),
	})
	if err != nil {
		return err
	}
	log = log.With("transport", string(client.Kind))
	r := launchctl.New(c.String("launchctl"))
	r.DryRun, r.Out = dry, out
	r.VerifyTimeout, r.VerifyInterval = s.VerifyTimeout, s.VerifyInterval

	lockPath := c.String("fallback-lock")
	if lk, err := launchctl.ReadFallbackLock(lockPath); err == nil {
		fmt.Fprintf(out, "on fallback since %s (by %s: %s)\n", lk.When.UTC().Format(time.RFC3339), lk.Who, lk.Why)
	} else if IsNotExist(err) {
		fmt.Fprintf(out, "note: no fallback lock at %s; restoring anyway\n", lockPath)
	}
	binary := c.String("primary-binary")
	log.Warn("restore_primary", "check", CheckFallbackActivated, "primary", label, "plist", plist, "binary", binary, "dry_run", dry)
	model := c.String("model")
	res, err := r.RestorePrimary(ctx, launchctl.RestoreOpts{
		PrimaryLabel: label, PrimaryPlist: plist, FallbackLabel: c.String("fallback-label"),
		FallbackLockPath: lockPath, RemediationLockPath: c.String("remediation-lock"),
		CheckPrimary: func(context.Context) error { return CheckBinary(binary) },
		Verify: func(ctx context.Context) error {
			return ProbeModels(ctx, client, s.Timeout, model).Err
		},
	})
	if !dry {
		for _, step := range res.Steps {
			fmt.Fprintln(out, step)
		}
	}
	if err != nil {
		log.Error("restore_failed", "check", CheckFallbackActivated, "error", err.Error(), "steps", res.Steps, "rc", rcOf(err))
		var ee *launchctl.ExitError
		switch {
		case errors.Is(err, launchctl.ErrPrimaryCheckFailed):
			return cli.Exit(fmt.Sprintf("%v; nothing was changed", err), probe.ExitCritical)
		case errors.Is(err, launchctl.ErrUnverified), errors.As(err, &ee):
			return cli.Exit(err.Error(), probe.ExitCritical)
		}
		return err // configuration (plist, lock paths): UNKNOWN
	}
	if dry {
		log.Info("restore_dry_run", "check", CheckFallbackActivated, "steps", res.Steps)
		return nil
	}
	log.Info("primary_restored", "check", CheckFallbackActivated, "steps", res.Steps, "verify_attempts", res.VerifyAttempts)
	fmt.Fprintf(out, "primary %s restored and serving; fallback %s disabled; fallback lock removed\n", label, c.String("fallback-label"))
	return nil
}

// restoreLog opens the guardian's event log for the subcommand's events.
func restoreLog(c *cli.Context, stdout io.Writer, start time.Time) (*slog.Logger, func(), error) {
	path := c.String("log-file")
	var w io.Writer = stdout
	closeLog := func() {}
	if path != "-" {
		f, err := eventlog.OpenFile(path, c.Int64("log-max-bytes"), eventlog.DefaultKeep)
		if err != nil {
			return nil, nil, err
		}
		w, closeLog = f, func() { f.Close() }
	}
	h := eventlog.WithDuration(eventlog.NewHandler(w), start, time.Now)
	return slog.New(h).With("probe", "guardian", "command", "restore-primary"), closeLog, nil
}
