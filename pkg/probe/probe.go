// Package probe is the contract every council probe shares (docs/DESIGN.md
// section 2):
// the common flags with env vars and $HOME-relative defaults, one run = one
// tick under a non-blocking lock, the JSON-lines event log, per-channel
// alerting with a durable outbox, transport autodetection for network
// probes, state that survives between ticks, Nagios-compatible exit codes, a
// coloured human summary on a terminal and the plugin status line, and
// optional Prometheus textfile output.
//
// A probe is a Probe value whose Tick function runs its checks and reports
// each one on its own channel through the Tick (Pass, Fail, Unknown). Main
// does the rest:
//
//	func main() { os.Exit(guardian.New().Run(os.Args)) }
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/alert/deliver"
	"github.com/sanctum/council-probes/pkg/core/eventlog"
	"github.com/sanctum/council-probes/pkg/core/lock"
	"github.com/sanctum/council-probes/pkg/core/metrics"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/paths"
	"github.com/sanctum/council-probes/pkg/host/proccpu"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// Exit codes, compatible with the Nagios / Monitoring Plugins convention.
const (
	ExitOK       = 0 // everything healthy
	ExitWarning  = 1 // degraded; alert at warn
	ExitCritical = 2 // failed at error/critical, or a human is needed
	ExitUnknown  = 3 // the probe could not determine the state
)

// The contract's own channels, which every probe's state may hold beside
// its checks' (CheckServiceManager, too: manager.go). A probe that reports
// on one itself (a bad setting on config, refused credentials on auth)
// uses these names, so every probe says the same thing the same way.
const (
	// CheckTransport: the council URL or the transport cannot be set up.
	CheckTransport = "transport"
	// CheckCertExpiry: the client certificate has expired or soon will.
	CheckCertExpiry = "cert_expiry"
	// CheckConfig: a setting that cannot work; no check was run.
	CheckConfig = "config"
	// CheckBackend: --backend names no known server.
	CheckBackend = "backend"
	// CheckAuth: the server refused the probe's credentials (401/403): a
	// fault on our side, UNKNOWN, never remediated.
	CheckAuth = "auth"
)

// Version is set at build time (-ldflags -X .../probe.Version=...).
var Version = "dev"

// Probe describes one probe binary.
type Probe struct {
	// Name is the probe's name: guardian, canary, drift, integrity,
	// parity-smoke. The binary is council-<Name>.
	Name        string
	Usage       string
	Description string
	// Interval is how often the probe runs; a tick older than 3x is stale.
	// Zero: the probe's entry in the suite's registry (pkg/core/suite) says.
	Interval time.Duration
	// Network adds the transport flags and resolves a transport before Tick.
	Network bool
	// ServerOptional: the probe's own checks do not need the server (drift
	// reads files, git and launchd, and asks the server only who it is). A
	// transport that cannot be resolved is still reported on the transport
	// channel, but Tick runs, with a nil Client and Server.
	ServerOptional bool
	// Layout adds the launchd layout flags (labels, binary, fallback lock).
	Layout bool
	// Flags are the probe's own flags; Commands its subcommands.
	Flags    []cli.Flag
	Commands []*cli.Command
	// Default is the alert policy of every check; Policies overrides it.
	Default  alert.Policy
	Policies map[string]alert.Policy
	// Tick runs the checks.
	Tick func(ctx context.Context, t *Tick) error

	// Stdout and Stderr default to the process's.
	Stdout, Stderr io.Writer
}

// Binary is the probe's binary name.
func (p *Probe) Binary() string { return "council-" + p.Name }

// Every is how often the probe runs: Interval, else its schedule in the
// suite's registry.
func (p *Probe) Every() time.Duration {
	if p.Interval > 0 {
		return p.Interval
	}
	if e, ok := suite.Lookup(p.Name); ok {
		return e.Interval()
	}
	return 0
}

// App builds the urfave/cli application. Defaults are computed now, from the
// current $HOME.
func (p *Probe) App() *cli.App {
	stdout, stderr := p.stdio()
	app := &cli.App{
		Name:                 p.Binary(),
		Usage:                p.Usage,
		Description:          p.Description,
		Version:              versionString(),
		Flags:                append(commonFlags(p.Name, p.Network, p.Layout), p.Flags...),
		Commands:             p.Commands,
		Writer:               stdout,
		ErrWriter:            stderr,
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		Before: func(c *cli.Context) error {
			return applyConfig(c, p.Name)
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return fmt.Errorf("%w (run %s --help for usage)", err, p.Binary())
		},
		// Exit codes are ours to decide, not the library's.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	return app
}

func (p *Probe) stdio() (io.Writer, io.Writer) {
	out, errw := p.Stdout, p.Stderr
	if out == nil {
		out = os.Stdout
	}
	if errw == nil {
		errw = os.Stderr
	}
	return out, errw
}

func versionString() string {
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " (" + bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		v += ")"
	}
	return v
}

// exitCode carries a code out of the cli action.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// Run runs the probe with args (os.Args) and returns the exit code.
func (p *Probe) Run(args []string) int {
	_, stderr := p.stdio()
	app := p.App()
	app.Action = func(c *cli.Context) error {
		if c.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q (run %s --help for usage)", c.Args().First(), p.Binary())
		}
		return exitCode(p.tick(c))
	}
	err := app.Run(args)
	var code exitCode
	var coder cli.ExitCoder
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &coder):
		// A subcommand (keygen, verify, restore-primary) chose its code.
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(stderr, "%s: %s\n", p.Binary(), msg)
		}
		return coder.ExitCode()
	default:
		fmt.Fprintf(stderr, "%s: %v\n", p.Binary(), err)
		return ExitUnknown
	}
}

// tick runs one tick and returns its exit code.
func (p *Probe) tick(c *cli.Context) int {
	stdout, stderr := p.stdio()
	start := time.Now()
	startCPU, _ := proccpu.Self()
	cfg := commonFrom(c)

	logw, logFile, err := openLog(cfg, stdout)
	if err != nil {
		// A log that cannot be opened must not stop the checks, the
		// remediation or the alerts: the events go to stderr instead.
		fmt.Fprintf(stderr, "%s: event log: %v; events go to stderr\n", p.Binary(), err)
		logw = stderr
	}
	if logFile != nil {
		defer logFile.Close()
	}
	log := slog.New(eventlog.WithDuration(eventlog.NewHandler(logw), start, time.Now)).With("probe", p.Name)
	// The human summary and the status line go to stdout unless stdout is
	// the log.
	human := cfg.LogFile != "-"

	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		p.stateDirFault(c, cfg, log, stdout, stderr, "create its state dir", err)
		return ExitUnknown
	}
	tickLock, err := lock.TryLock(paths.LockFile(cfg.StateDir, p.Name))
	if errors.Is(err, lock.ErrHeld) {
		log.Warn("skipped_overlap", "reason", "the previous tick is still running")
		fmt.Fprintf(stderr, "%s: previous tick still running; skipped\n", p.Binary())
		return ExitUnknown
	}
	if err != nil {
		p.stateDirFault(c, cfg, log, stdout, stderr, "take its tick lock", err)
		return ExitUnknown
	}
	defer tickLock.Release()
	removeStaleTemps(log, cfg.StateDir, p.Name)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	t := &Tick{
		Probe: p, C: c, Common: cfg, Log: log, Out: stdout, Now: time.Now, Start: start,
		StatePath: paths.StateFile(cfg.StateDir, p.Name), restarts: -1, startCPU: startCPU,
	}
	t.State, err = state.Load(t.StatePath, p.Name)
	stateErr := err
	if errors.Is(err, state.ErrCorrupt) {
		log.Warn("state_reset", "error", err.Error())
		stateErr = nil
	}
	t.startState()
	problems := validateConfig(c, p)
	if err := t.setupDispatch(paths.OutboxFile(cfg.StateDir, p.Name), problems); err != nil {
		p.stateDirFault(c, cfg, log, stdout, stderr, "load its alert outbox", err)
		return ExitUnknown
	}
	if stateErr != nil {
		// A symlink, a FIFO, a directory or an unreadable file: the tick
		// runs on a fresh state and saves nothing over what is there.
		t.stateUnusable = true
		t.stateFault(stateErr, stderr)
	}

	tickErr := t.run(ctx, problems)
	cancelled := ctx.Err() != nil
	switch {
	case cancelled:
		log.Warn("tick_cancelled", "reason", "signal received", "error", errString(tickErr))
		t.SetExit(ExitUnknown, "cancelled by signal")
	case tickErr != nil:
		log.Error("probe_error", "error", tickErr.Error())
		t.SetExit(ExitUnknown, tickErr.Error())
	}
	return t.finish(cancelled, logFile, human, stderr)
}

// startState prepares the loaded state for this tick: the probe's
// interval, every persisted time read through PastTime, and the alert
// engine over its channels under the probe's policies.
func (t *Tick) startState() {
	p := t.Probe
	t.State.IntervalSeconds = int(p.Every() / time.Second)
	t.pastChannelTimes()
	t.engine = alert.NewEngine(p.Name, t.State.Channels, p.Default)
	// The contract's own channels alert on the first occurrence: a broken
	// transport or an expired certificate will not fix itself by the next
	// tick. A probe may still override them.
	t.engine.Policies[CheckTransport] = alert.Policy{Threshold: 1, Cooldown: time.Hour}
	t.engine.Policies[CheckCertExpiry] = alert.Policy{Threshold: 1, Cooldown: 24 * time.Hour}
	t.engine.Policies[CheckConfig] = alert.Policy{Threshold: 1, Cooldown: time.Hour}
	// A service manager that cannot be asked will not answer by the next
	// tick either.
	t.engine.Policies[CheckServiceManager] = alert.Policy{Threshold: 1, Cooldown: time.Hour}
	for k, v := range p.Policies {
		t.engine.Policies[k] = v
	}
	t.engine.Now = func() time.Time { return t.Now() }
}

// run runs the checks the configuration allows: none on a configuration
// problem; a network probe's only once its transport resolves (unless its
// own checks do not need the server).
func (t *Tick) run(ctx context.Context, problems []configProblem) error {
	p := t.Probe
	if !t.reportConfig(problems) {
		return nil
	}
	served := p.Network && t.resolveTransport()
	if served {
		t.resolveBackend(ctx)
	}
	if served || !p.Network || p.ServerOptional {
		return p.Tick(ctx, t)
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func openLog(cfg Common, stdout io.Writer) (io.Writer, *eventlog.File, error) {
	if cfg.LogFile == "-" {
		return stdout, nil, nil
	}
	f, err := eventlog.OpenFile(cfg.LogFile, cfg.LogMaxBytes, eventlog.DefaultKeep)
	if err != nil {
		return nil, nil, err
	}
	return f, f, nil
}

// setupDispatch builds the alert sinks and loads the outbox. What earlier
// ticks could not deliver is flushed in finish, after the checks: a long
// backlog or a slow notifier must not delay the check itself. A sink whose
// URL is invalid is left out; reportConfig says why.
func (t *Tick) setupDispatch(outbox string, problems []configProblem) error {
	ob, err := alert.LoadOutbox(outbox, t.Common.OutboxMax)
	if err != nil {
		if !errors.Is(err, alert.ErrOutboxCorrupt) {
			return err
		}
		// Salvaged; the dispatcher alerts on what was lost.
		t.Log.Error("outbox_corrupt", "error", err.Error())
	}
	// The age of a spooled alert is logged when it is delivered: a
	// queued time after now is taken as now.
	queued := make([]time.Time, len(ob.Entries))
	for i, e := range ob.Entries {
		queued[i] = e.Queued
	}
	for i, q := range t.PastTimes("outbox.queued", queued) {
		ob.Entries[i].Queued = q
	}
	if ob.Trimmed > 0 {
		t.Log.Warn("outbox_trimmed", "dropped", ob.Trimmed, "max", ob.Max,
			"reason", "the outbox held more than --outbox-max; the oldest were dropped and will be reported")
	}
	sinks, am := alertSinks(t.Common, problems)
	if am != nil {
		// Keep a firing alert active until the engine's next re-alert (at
		// most cooldown + one interval away), with two ticks to spare.
		am.Hold = func(check string) time.Duration { return t.engine.PolicyFor(check).Cooldown + 3*t.Probe.Every() }
		am.Now = t.Now
	}
	t.dispatch = &deliver.Dispatcher{
		ProbeName: t.Probe.Name, Sinks: sinks, Outbox: ob, Log: t.Log,
		DryRun: t.Common.DryRun, DryRunOut: t.Out, LocalNotify: deliver.NotifyLocal, Now: t.Now,
	}
	return nil
}

// alertSinks builds the configured alert sinks. A sink whose URL is invalid
// is left out (reportConfig says why); am is nil when no Alertmanager is
// configured.
func alertSinks(cfg Common, problems []configProblem) (sinks []deliver.Sink, am *deliver.Alertmanager) {
	client := deliver.NewRetryClient()
	if cfg.ForceFlowURL != "" && !problemWith(problems, "force-flow-url") {
		sinks = append(sinks, deliver.NewForceFlow(cfg.ForceFlowURL, client))
	}
	if cfg.AlertmanagerURL != "" && !problemWith(problems, "alertmanager-url") {
		am = deliver.NewAlertmanager(cfg.AlertmanagerURL, cfg.Instance, client)
		sinks = append(sinks, am)
	}
	return sinks, am
}

// resolveTransport picks the network transport; it reports a misconfiguration
// on the transport channel and returns false when the tick cannot run.
func (t *Tick) resolveTransport() bool {
	cfg := t.Common
	c, err := transport.Resolve(cfg.TransportConfig())
	if err != nil {
		t.Unknown(CheckTransport, "transport_error", err.Error())
		return false
	}
	t.Client = c
	t.Log = t.Log.With("transport", string(c.Kind))
	t.dispatch.Log = t.Log
	t.Clear(CheckTransport)
	switch state, left := c.CertExpiry(t.Now(), cfg.CertWarn); state {
	case "expired":
		t.Fail(CheckCertExpiry, "cert_expired", alert.Error,
			fmt.Sprintf("client certificate %s (CN=%s) expired %s ago", cfg.ClientCert, c.CertSubject, (-left).Round(time.Minute)))
	case "expiring":
		t.Fail(CheckCertExpiry, "cert_expiring", alert.Warn,
			fmt.Sprintf("client certificate %s (CN=%s) expires in %s", cfg.ClientCert, c.CertSubject, left.Round(time.Hour)))
	default:
		t.Clear(CheckCertExpiry)
	}
	return true
}

// finish delivers the tick's alerts, saves state, writes metrics and prints
// the human summary and the plugin status line.
func (t *Tick) finish(cancelled bool, logFile *eventlog.File, human bool, stderr io.Writer) int {
	// Alerts get their own budget: a tick cancelled by SIGTERM still spools
	// what it found, because nothing may be lost.
	actx, cancel := context.WithTimeout(context.Background(), t.Common.AlertBudget)
	defer cancel()
	if cancelled {
		// Don't wait on the network after a SIGTERM; spool directly.
		actx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
	}
	if !cancelled {
		// The backlog first (oldest first), within the same budget; what
		// it leaves is spooled behind, in order.
		if err := t.dispatch.Flush(actx); err != nil {
			t.Log.Error("outbox_error", "error", err.Error())
		}
	}
	for _, n := range t.notices {
		if err := t.dispatch.Send(actx, n); err != nil {
			t.engine.Unsent(n)
			t.Log.Error("outbox_error", "check", n.Check, "error", err.Error())
			fmt.Fprintf(stderr, "%s: could not save the alert outbox: %v\n", t.Probe.Binary(), err)
			t.SetExit(ExitUnknown, "alert outbox unwritable")
		}
	}
	verdict := func() (int, string) {
		code, summary := t.ExitCode(), t.summary()
		if cancelled {
			// An interrupted tick did not determine the state, whatever
			// it had found so far.
			code, summary = ExitUnknown, "tick cancelled by signal; "+summary
		}
		return code, summary
	}
	code, summary := verdict()
	if !cancelled {
		t.State.LastTick = t.Now()
		t.State.LastExit = code
		t.State.LastSummary = summary
	}
	// A dry run leaves no trace in the state: it delivered nothing, so
	// saving the channels it marked as alerted would hold back (cooldown) the
	// real tick's alert and later announce a recovery of an alert never sent.
	if !t.DryRun() && !t.stateUnusable {
		if err := t.State.Save(t.StatePath); err != nil {
			// Failure counts that cannot be saved freeze escalation: every
			// tick would start again from the last saved count and never
			// restart or alert. That is a failure of its own.
			t.stateFault(err, stderr)
		}
	}
	if t.stateNotice != nil {
		code, summary = verdict()
		t.dispatch.SendDirect(actx, *t.stateNotice)
	}
	if t.Common.MetricsDir != "" {
		if err := metrics.Write(t.Common.MetricsDir, t.snapshot(code)); err != nil {
			t.Log.Error("metrics_error", "error", err.Error())
		}
	}
	done := []any{"exit_code", code, "summary", summary,
		"alerts_sent", t.dispatch.Sent, "alerts_spooled", t.dispatch.Spooled, "outbox_depth", t.dispatch.Outbox.Len()}
	if cpu, ok := proccpu.Self(); ok {
		// The probe's own cost on this host: cpu_ms is the process's CPU
		// so far, start-up included; startup_cpu_ms the part spent before
		// the tick began (the Go runtime, package init, flag parsing).
		done = append(done, "cpu_ms", cpu.Milliseconds(), "startup_cpu_ms", t.startCPU.Milliseconds())
	}
	t.Log.Log(context.Background(), levelFor(code), "tick_done", done...)
	if logFile != nil {
		if err := logFile.Err(); err != nil {
			// slog drops write errors; a full disk must still be visible.
			fmt.Fprintf(stderr, "%s: event log: %v\n", t.Probe.Binary(), err)
		}
	}
	if human {
		t.printHuman(code, summary)
	}
	return code
}

func levelFor(code int) slog.Level {
	switch code {
	case ExitOK:
		return slog.LevelInfo
	case ExitWarning:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (t *Tick) snapshot(code int) metrics.Snapshot {
	checks := map[string]int{}
	for _, r := range t.results {
		switch r.Status {
		case StatusOK:
			checks[r.Check] = metrics.CheckOK
		case StatusFail:
			if r.Severity.Rank() >= alert.Warn.Rank() {
				checks[r.Check] = metrics.CheckFailing
			} else {
				checks[r.Check] = metrics.CheckOK
			}
		case StatusUnknown:
			checks[r.Check] = metrics.CheckUnknown
		}
	}
	fallback := false
	if t.Common.FallbackLock != "" {
		_, err := os.Stat(t.Common.FallbackLock)
		fallback = err == nil
	}
	return metrics.Snapshot{
		Probe: t.Probe.Name, Success: code == ExitOK, Duration: t.Now().Sub(t.Start), Checks: checks,
		LastRun: t.Now(), OutboxDepth: t.dispatch.Outbox.Len(), Restarts: t.restarts, FallbackActive: fallback, FallbackKnown: t.Common.FallbackLock != "",
		Interval: t.Probe.Every(), Gauges: t.gauges,
		Backend: string(t.Backend.Kind), BackendRunning: t.ServerMetrics.RequestsRunning,
		BackendWaiting: t.ServerMetrics.RequestsWaiting, BackendKVRatio: t.ServerMetrics.KVCacheUsage,
	}
}

// upper is the probe name as the status line shows it.
func (p *Probe) upper() string {
	return strings.ToUpper(strings.ReplaceAll(p.Name, "-", " "))
}
