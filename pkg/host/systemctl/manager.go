package systemctl

import (
	"context"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/host/service"
)

// The Runner is systemd's service.Manager (and its LogReader: the journal).
var (
	_ service.Manager   = (*Runner)(nil)
	_ service.LogReader = (*Runner)(nil)
)

// NewManager returns systemd as the probes' service manager: systemctl and
// journalctl at the given paths (empty: found on PATH), in scope, with the
// probe's options.
func NewManager(path, journal string, scope Scope, o service.Options) *Runner {
	r := New(path, journal, scope)
	r.DryRun = o.DryRun
	if o.VerifyTimeout > 0 {
		r.VerifyTimeout = o.VerifyTimeout
	}
	if o.VerifyInterval > 0 {
		r.VerifyInterval = o.VerifyInterval
	}
	return r
}

// Kind is systemd.
func (r *Runner) Kind() service.Kind { return service.Systemd }

// Target is the unit's name, as systemctl names it ("ollama.service").
func (r *Runner) Target(name string) string { return UnitName(name) }

// CheckName validates a unit name.
func (r *Runner) CheckName(name string) error { return ValidateUnit(name) }

// Status asks systemd about the unit (Show). A unit systemd does not know
// (LoadState not-found, or masked) is an error wrapping ErrNotLoaded.
func (r *Runner) Status(ctx context.Context, name string) (*service.Status, error) {
	u, err := r.Show(ctx, name)
	if err != nil {
		return nil, err
	}
	if !u.Loaded() {
		return nil, fmt.Errorf("systemctl show %s: LoadState=%s: %w", UnitName(name), u.LoadState, service.ErrNotLoaded)
	}
	st := &service.Status{
		Name: UnitName(name), State: u.State(), Restarts: u.NRestarts, Active: u.Active(),
		LastExit: u.ExitCause(), Abnormal: u.Abnormal(), Failed: u.Failed(), StartLimitHit: u.StartLimitHit(),
	}
	if u.Running() {
		st.PID = u.MainPID
		st.Started = r.started(u.ExecMainStartMonotonic)
	}
	return st, nil
}

// started turns a CLOCK_MONOTONIC timestamp (µs) into a time; zero when it
// cannot be told.
func (r *Runner) started(monoUS uint64) time.Time {
	mono := r.Monotonic
	if mono == nil {
		mono = monotonicNow
	}
	now, err := mono()
	if monoUS == 0 || err != nil {
		return time.Time{}
	}
	// A start after now is now (and a value past 292 years of µs would
	// wrap a Duration: systemctl's output is read as any input is).
	if nowUS := uint64(now / time.Microsecond); monoUS > nowUS {
		monoUS = nowUS
	}
	ago := now - time.Duration(monoUS)*time.Microsecond
	return r.timing().Clock().Add(-ago)
}

// BootEnabled reports whether the unit starts at boot or login
// (UnitFileState enabled). A unit with no unit file (transient, generated)
// keeps no such state: known is false.
func (r *Runner) BootEnabled(ctx context.Context, name string) (enabled, known bool, err error) {
	u, err := r.Show(ctx, name)
	if err != nil {
		return false, false, err
	}
	if u.UnitFileState == "" || u.LoadState == "not-found" {
		return false, false, nil
	}
	return u.Enabled(), true, nil
}

// DeathCause says how the unit's last process ended. While the unit waits
// to restart or has failed, its properties say (Result, ExecMainCode,
// ExecMainStatus); once Restart= has brought it back they are reset, and
// the journal since since says instead ("Main process exited,
// code=killed, status=11/SEGV"). A journal that cannot be read gives no
// cause.
func (r *Runner) DeathCause(ctx context.Context, name string, st *service.Status, since time.Time) service.Cause {
	if st == nil {
		var err error
		if st, err = r.Status(ctx, name); err != nil {
			st = &service.Status{}
		}
	}
	if st.LastExit != "" {
		c := service.Cause{Exit: st.LastExit, Source: "systemd"}
		if st.StartLimitHit && st.LastExit != "start-limit-hit" {
			c.Exit = "start-limit-hit: " + c.Exit
		}
		return c
	}
	// JSON, so that systemd's own lines can be told from the server's: a
	// server can print "Main process exited, code=killed" too.
	out, err := r.journal(ctx, name, "json", DefaultJournalLines, DefaultJournalBytes, since)
	if err != nil {
		return service.Cause{}
	}
	jc := ParseJournalJSON(out, UnitName(name))
	exit := jc.Exit
	if jc.StartLimitHit && jc.Result != "start-limit-hit" {
		exit = "start-limit-hit"
		if jc.Exit != "" {
			exit += " after " + jc.Exit
		}
	}
	if exit == "" {
		return service.Cause{}
	}
	return service.Cause{Exit: exit, Source: "journal"}
}

// LogTail returns at most maxBytes of the unit's newest journal lines, as
// `journalctl -u UNIT -o cat` prints them: the server's own output (and
// systemd's lines about it), for a primary that logs to the journal.
func (r *Runner) LogTail(ctx context.Context, name string, maxBytes int64) ([]byte, error) {
	return r.Journal(ctx, name, DefaultJournalLines*10, maxBytes, time.Time{})
}
