package probe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/alert/deliver"
	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/host/paths"
)

// staleTempAge is how old a temp file of the probe's own state or outbox
// must be before it is taken for the leftover of a killed save. A save
// takes milliseconds; the tick lock is held meanwhile, so this only spares
// a save by something outside the tick (a subcommand run by hand).
const staleTempAge = 10 * time.Minute

// removeStaleTemps removes the temp files a SIGKILL during a save left
// beside the probe's state and outbox (only those names, only this probe's).
func removeStaleTemps(log *slog.Logger, stateDir, probe string) {
	for _, f := range []string{paths.StateFile(stateDir, probe), paths.OutboxFile(stateDir, probe)} {
		removed, err := atomicfile.RemoveStale(f, staleTempAge, time.Now())
		for _, r := range removed {
			log.Info("stale_temp_removed", "path", r, "reason", "left by a save that was killed")
		}
		if err != nil {
			log.Warn("stale_temp_error", "error", err.Error())
		}
	}
}

// stateFault reports that the probe's state could not be loaded or saved.
// It is a failure of its own, on the state channel: the tick is UNKNOWN
// (exit 3) and the alert is sent directly at the end of the tick, never
// spooled, since the outbox lives in the same directory. Its cooldown
// cannot be saved either, so it alerts every tick until fixed (Force Flow
// deduplicates identical alerts).
func (t *Tick) stateFault(err error, stderr io.Writer) {
	msg := fmt.Sprintf("the probe's state cannot be used, so failure counts, cooldowns and restart history are not kept and escalation cannot proceed: %s", redact.Error(err))
	t.results = append(t.results, Result{Check: "state", Status: StatusUnknown, Severity: alert.Error, Summary: msg})
	t.Log.Error("state_error", "check", "state", "detail", msg)
	fmt.Fprintf(stderr, "%s: state: %s\n", t.Probe.Binary(), redact.Error(err))
	now := t.Now()
	t.stateNotice = &alert.Notice{
		Probe: t.Probe.Name, Check: "state", Severity: alert.Error,
		Title: fmt.Sprintf("council-%s: state", t.Probe.Name), Message: msg, At: now, StartsAt: now,
	}
}

// stateDirFault reports a state dir the tick cannot start in: the dir
// cannot be created, the tick lock cannot be taken (read-only before the
// first tick, a planted symlink), the outbox cannot be opened. No check
// runs, but the operator must hear of it, so the state alert goes out
// directly through the configured sinks. what says what failed.
func (p *Probe) stateDirFault(c *cli.Context, cfg Common, log *slog.Logger, stdout, stderr io.Writer, what string, err error) {
	msg := fmt.Sprintf("the probe cannot %s in the state dir %s, so no check runs: %s", what, cfg.StateDir, redact.Error(err))
	log.Error("state_error", "check", "state", "detail", msg)
	fmt.Fprintf(stderr, "%s: state: cannot %s in the state dir: %s\n", p.Binary(), what, redact.Error(err))
	problems := validateConfig(c, p)
	sinks, _ := alertSinks(cfg, problems)
	d := &deliver.Dispatcher{ProbeName: p.Name, Sinks: sinks, Log: log, DryRun: cfg.DryRun, DryRunOut: stdout, LocalNotify: deliver.NotifyLocal}
	now := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.AlertBudget)
	defer cancel()
	d.SendDirect(ctx, alert.Notice{
		Probe: p.Name, Check: "state", Severity: alert.Error,
		Title: fmt.Sprintf("council-%s: state", p.Name), Message: msg, At: now, StartsAt: now,
	})
}

func (t *Tick) stderr() io.Writer {
	_, errw := t.Probe.stdio()
	return errw
}
