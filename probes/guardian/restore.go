package guardian

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/eventlog"
	"github.com/sanctum/council-probes/pkg/host/primarycheck"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:  "restore-primary",
		Usage: "operator: switch serving back from the fallback to the fixed primary",
		Description: `Run by hand once the primary is fixed. First runs council-integrity's
checks of --primary-binary: present and executable by this user, validly
signed (codesign on macOS, pinned with --codesign-requirement; elsewhere
<binary>.sig against --signing-pubkey, skipped with a note when no key is
configured) and its --metallib-name beside it. Any failing check refuses
the restore and nothing changes. These four settings come from the flags,
their environment variables, or else the config file's [integrity] and
global sections, so the checks match the ones integrity runs. Then, under
the shared remediation lock, under launchd: bootout and disable the
fallback (so a reboot cannot start it), enable the primary (the promotion
disabled it), reload the primary from --primary-plist (bootout, bootstrap
with the EIO recovery, kickstart -k); under systemd: disable --now the
fallback, reset-failed the primary if systemd gave up on it, enable --now
the primary. Then verify that it serves (--verify-timeout) and remove the
fallback lock.

If the primary does not serve (or a step fails), the restore is rolled
back under the same lock so that something serves (launchd: bootout and
disable the primary, enable the fallback, bootstrap --fallback-plist with
the EIO recovery, kickstart -k it; systemd: disable --now the primary,
enable --now the fallback) and the fallback is verified at
--fallback-url. The fallback lock is kept either way. --dry-run prints the
launchctl or systemctl argv instead of running it. A step the service
manager refuses for want of privilege is "not permitted" (exit 3).

Exit status: 0 restored (or dry run); 2 refused or failed, a human is
needed (primary check failed and nothing changed; the restore failed and
was rolled back to the fallback; the rollback failed too and nothing may
be serving); 3 bad configuration (including a signature check that cannot
run: no codesign, unreadable key; a missing primary or fallback plist; the
service manager not permitting or not answering; nothing changed).`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "primary-plist", EnvVars: []string{"COUNCIL_PRIMARY_PLIST"},
				Usage: "plist of the primary, under launchd (default: ~/Library/LaunchAgents/<primary-label>.plist)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the launchctl or systemctl argv instead of running it (same as the global --dry-run)"},
		}, primarycheck.Flags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("restore-primary: unexpected argument %q", c.Args().First())
			}
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return restorePrimary(ctx, c, c.App.Writer)
		},
	}
}

// restorePrimary runs the RestorePrimary recipe with the settings in c,
// prints each step to out and logs restore_primary / primary_restored /
// restore_failed to the guardian's event log.
func restorePrimary(ctx context.Context, c *cli.Context, out io.Writer) error {
	start := time.Now()
	rs, err := restoreSettingsFrom(c)
	if err != nil {
		return err
	}
	s, cfg, dry := rs.settings, rs.Common, rs.DryRun
	label, plist := cfg.PrimaryLabel, rs.PrimaryPlist
	log, closeLog, err := restoreLog(cfg, out, start)
	if err != nil {
		return err
	}
	defer closeLog()

	client, err := transport.Resolve(cfg.TransportConfig())
	if err != nil {
		return err
	}
	log = log.With("transport", string(client.Kind))
	// The fallback is probed as the guardian probes it while on the
	// fallback lock, to verify a rollback.
	fbClient, err := fallbackClient(cfg, s)
	if err != nil {
		return err
	}
	mgr, err := probe.NewManager(cfg, service.Options{DryRun: dry, VerifyTimeout: s.VerifyTimeout, VerifyInterval: s.VerifyInterval}, out)
	if err != nil {
		return err
	}
	log = log.With("service_manager", string(mgr.Kind()))

	lockPath := cfg.FallbackLock
	if lk, err := service.ReadFallbackLock(lockPath); err == nil {
		fmt.Fprintf(out, "on fallback since %s (by %s: %s)\n", lk.When.UTC().Format(time.RFC3339), lk.Who, lk.Why)
	} else if isNotExist(err) {
		fmt.Fprintf(out, "note: no fallback lock at %s; restoring anyway\n", lockPath)
	}
	binary := cfg.PrimaryBinary
	log.Warn("restore_primary", "check", CheckFallbackActivated, "primary", label, "plist", plist, "binary", binary, "dry_run", dry)
	// The checks capture what they need, not the settings: those stay on
	// the stack.
	primary, mac, timeout, model := rs.Primary, mgr.Kind() == service.Launchd, s.Timeout, cfg.Model
	res, err := mgr.RestorePrimary(ctx, service.RestoreOpts{
		Primary: label, PrimaryDefinition: plist, Fallback: cfg.FallbackLabel, FallbackDefinition: cfg.FallbackPlist,
		FallbackLockPath: lockPath, RemediationLockPath: cfg.RemediationLock,
		CheckPrimary: func(ctx context.Context) error {
			return checkPrimary(ctx, primary, mac, out, log)
		},
		Verify: func(ctx context.Context) error {
			return probeModels(ctx, client, timeout, model).Err
		},
		VerifyFallback: func(ctx context.Context) error {
			return probeModels(ctx, fbClient, timeout, "").Err
		},
	})
	if !dry {
		for _, step := range res.Steps {
			fmt.Fprintln(out, step)
		}
	}
	if err != nil {
		log.Error("restore_failed", "check", CheckFallbackActivated, "error", err.Error(), "steps", res.Steps, "rc", rcOf(err),
			"rolled_back", res.RolledBack)
		return restoreExit(err, cfg.FallbackLabel)
	}
	if dry {
		log.Info("restore_dry_run", "check", CheckFallbackActivated, "steps", res.Steps)
		return nil
	}
	log.Info("primary_restored", "check", CheckFallbackActivated, "steps", res.Steps, "verify_attempts", res.VerifyAttempts)
	fmt.Fprintf(out, "primary %s restored and serving; fallback %s disabled; fallback lock removed\n", label, cfg.FallbackLabel)
	return nil
}

// restoreExit is the exit of a restore that failed: 2 when a human is
// needed (refused, rolled back, the rollback failed, unverified), 3 when
// nothing was changed for a fault on our side (configuration, not
// permitted, the manager not answering).
func restoreExit(err error, fallback string) error {
	switch {
	case errors.Is(err, service.ErrRolledBack):
		return cli.Exit(fmt.Sprintf("%v; fallback %s serving again", err, fallback), probe.ExitCritical)
	case errors.Is(err, service.ErrRollbackFailed):
		return cli.Exit(fmt.Sprintf("%v; nothing may be serving", err), probe.ExitCritical)
	case errors.Is(err, service.ErrPrimaryCheckFailed) && primarycheck.IsConfigError(err):
		return cli.Exit(fmt.Sprintf("%v; nothing was changed", err), probe.ExitUnknown)
	case errors.Is(err, service.ErrPrimaryCheckFailed):
		return cli.Exit(fmt.Sprintf("%v; nothing was changed", err), probe.ExitCritical)
	case errors.Is(err, service.ErrNotPermitted):
		return cli.Exit(fmt.Sprintf("not permitted: %v; run it as the servers' owner (or root), or install the polkit rule (README, Linux)", err), probe.ExitUnknown)
	case errors.Is(err, service.ErrUnavailable):
		return cli.Exit(fmt.Sprintf("%v; nothing was changed", err), probe.ExitUnknown)
	case errors.Is(err, service.ErrUnverified), service.ExitCode(err) > 0:
		return cli.Exit(err.Error(), probe.ExitCritical)
	}
	return err // configuration (plist, lock paths): UNKNOWN
}

// restoreLog opens the guardian's event log for the subcommand's events.
func restoreLog(cfg probe.Common, stdout io.Writer, start time.Time) (*slog.Logger, func(), error) {
	path := cfg.LogFile
	var w io.Writer = stdout
	closeLog := func() {}
	if path != "-" {
		f, err := eventlog.OpenFile(path, cfg.LogMaxBytes, eventlog.DefaultKeep)
		if err != nil {
			return nil, nil, err
		}
		w, closeLog = f, func() { f.Close() }
	}
	h := eventlog.WithDuration(eventlog.NewHandler(w), start, time.Now)
	return slog.New(h).With("probe", "guardian", "command", "restore-primary"), closeLog, nil
}

// The primary checks restore-primary runs, as they are printed and logged
// (event field primary_check).
const (
	primaryCheckBinary    = "binary"
	primaryCheckSignature = "signature"
	primaryCheckMetallib  = "metallib"
)

// signatureTimeout bounds codesign, as council-integrity does.
const signatureTimeout = 30 * time.Second

// checkPrimary runs council-integrity's checks of the primary binary: the
// ones that say whether it can serve at the next respawn. Restoring a
// primary that fails one would only hand serving to a binary that cannot
// start (no metallib) or that integrity demotes again within minutes (bad
// signature). Every check runs and is printed and logged, so one failure
// does not hide another; the error names all that failed. A check that
// could not run (no codesign, unreadable key) is a *primarycheck.ConfigError
// unless another check failed outright. No key off macOS skips the
// signature check with a note, as integrity does. Off a Mac (mac false:
// the manager is systemd) the Metal library and codesign do not apply:
// they are skipped as not applicable, as integrity shows them.
func checkPrimary(ctx context.Context, s primarycheck.Settings, mac bool, out io.Writer, log *slog.Logger) error {
	var failed, unknown checkErrors
	pass := func(check, detail string, attrs ...any) {
		fmt.Fprintf(out, "primary check %s: ok (%s)\n", check, detail)
		log.Info("primary_check_ok", append([]any{"check", CheckFallbackActivated, "primary_check", check}, attrs...)...)
	}
	fail := func(check string, err error, attrs ...any) {
		fmt.Fprintf(out, "primary check %s: FAILED: %v\n", check, err)
		log.Error("primary_check_failed", append([]any{"check", CheckFallbackActivated, "primary_check", check, "error", err.Error()}, attrs...)...)
		failed = append(failed, fmt.Errorf("%s: %w", check, err))
	}
	skip := func(check, reason string) {
		fmt.Fprintf(out, "primary check %s: skipped: %s\n", check, reason)
		log.Info("primary_check_skipped", "check", CheckFallbackActivated, "primary_check", check, "reason", reason)
	}

	if s.Binary == "" {
		return &primarycheck.ConfigError{Err: errors.New("no primary binary configured (--primary-binary)")}
	}
	info, err := primarycheck.CheckBinary(s.Binary, primarycheck.CurrentIdentity())
	if err != nil {
		fail(primaryCheckBinary, err, "binary", s.Binary)
	} else {
		pass(primaryCheckBinary, fmt.Sprintf("%s, mode %04o, %d bytes", s.Binary, info.Mode.Perm(), info.Size),
			"binary", s.Binary, "mode", fmt.Sprintf("%04o", info.Mode.Perm()), "size", info.Size)
	}

	v, reason := primarycheck.PlatformVerifier(s.Signature)
	switch {
	case v == nil && !mac && s.Signature.PubKey == "":
		skip(primaryCheckSignature, "not applicable on Linux (codesign is macOS's; set --signing-pubkey to check an Ed25519 signature)")
	case !primarycheck.Present(s.Binary):
		skip(primaryCheckSignature, "the binary is missing; reported by the binary check")
	case v == nil:
		skip(primaryCheckSignature, reason)
	default:
		cctx, cancel := context.WithTimeout(ctx, signatureTimeout)
		err := v.Verify(cctx, s.Binary)
		cancel()
		switch {
		case err == nil:
			pass(primaryCheckSignature, v.Describe(), "method", v.Describe())
		case ctx.Err() != nil:
			return ctx.Err()
		case primarycheck.IsConfigError(err):
			fmt.Fprintf(out, "primary check %s: cannot run: %v\n", primaryCheckSignature, err)
			log.Error("primary_check_unknown", "check", CheckFallbackActivated, "primary_check", primaryCheckSignature,
				"method", v.Describe(), "error", err.Error())
			unknown = append(unknown, fmt.Errorf("%s: %w", primaryCheckSignature, err))
		default:
			fail(primaryCheckSignature, err, "method", v.Describe())
		}
	}

	lib := primarycheck.MetallibPath(s.Binary, s.Metallib)
	if !mac {
		skip(primaryCheckMetallib, "not applicable on Linux (the Metal shader library is macOS's)")
	} else if size, err := primarycheck.CheckMetallib(s.Binary, s.Metallib); err != nil {
		fail(primaryCheckMetallib, err, "metallib", lib)
	} else {
		pass(primaryCheckMetallib, fmt.Sprintf("%s, %d bytes", lib, size), "metallib", lib, "size", size)
	}

	switch {
	case len(failed) > 0:
		// A definite failure outranks a check that could not run; the
		// latter is named but not wrapped, so the refusal exits 2.
		for _, u := range unknown {
			failed = append(failed, errors.New(u.Error()))
		}
		return failed
	case len(unknown) > 0:
		return unknown
	}
	return nil
}

// checkErrors are the failed checks, on one line (the refusal is printed
// as a single line) and each still reachable by errors.Is/As.
type checkErrors []error

func (e checkErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e checkErrors) Unwrap() []error { return e }
