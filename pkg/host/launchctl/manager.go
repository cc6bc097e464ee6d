package launchctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/host/service"
)

// Manager is launchd as the probes' service manager (service.Manager): the
// Runner's recipes and questions behind the shared interface.
type Manager struct {
	// r is a field, not embedded: the Runner's other exported methods
	// (Bootstrap, Reload, ...) would become the Manager's and, behind an
	// interface in a binary that links text/template, be kept whether
	// called or not.
	r *Runner
}

var _ service.Manager = Manager{}

// NewManager returns launchd as the probes' service manager: launchctl at
// path (empty: found on PATH) for the current user's GUI domain, with the
// probe's options; a dry run's lines go to out (nil: stdout).
func NewManager(path string, o service.Options, out io.Writer) Manager {
	r := New(path)
	r.DryRun, r.Out = o.DryRun, out
	if o.VerifyTimeout > 0 {
		r.VerifyTimeout = o.VerifyTimeout
	}
	if o.VerifyInterval > 0 {
		r.VerifyInterval = o.VerifyInterval
	}
	return Manager{r: r}
}

// Kind is launchd.
func (m Manager) Kind() service.Kind { return service.Launchd }

// Target is the service target gui/<uid>/<label>.
func (m Manager) Target(label string) string { return m.r.Service(label) }

// CheckName validates a launchd label.
func (m Manager) CheckName(label string) error {
	if err := ValidateLabel(label); err != nil {
		return fmt.Errorf("%w: %w", service.ErrInvalidName, err)
	}
	return nil
}

// asked wraps a launchctl failure in what it means to the probes: a label
// launchd does not know is ErrNotLoaded; a refusal for want of privilege
// ErrNotPermitted; anything else from a question means launchctl itself
// fails, and launchd cannot be asked (ErrUnavailable).
func asked(err error, question bool) error {
	var ee *ExitError
	switch {
	case err == nil:
		return nil
	case IsNotLoaded(err):
		return fmt.Errorf("%w: %w", service.ErrNotLoaded, err)
	case errors.As(err, &ee) && ee.Code == 1 && containsAny(ee.Output, "Operation not permitted", "Not privileged"):
		return fmt.Errorf("%w: %w", service.ErrNotPermitted, err)
	case service.IsMissingCommand(err), question:
		return fmt.Errorf("%w: %w", service.ErrUnavailable, err)
	}
	return err
}

// Status is `launchctl print`: the label's state, pid and runs, and how
// its last process ended. The start time of a running process is the
// kernel's (service.ProcessStart): launchd's print does not say.
func (m Manager) Status(ctx context.Context, label string) (*service.Status, error) {
	info, err := m.r.Print(ctx, label)
	if err != nil {
		return nil, asked(err, true)
	}
	st := &service.Status{
		Name: label, State: info.State, Restarts: info.Runs, Active: true,
		LastExit: info.ExitCause(), Abnormal: info.Abnormal(),
	}
	if info.Running() {
		st.PID = info.PID
		if started, err := service.ProcessStart(info.PID); err == nil {
			st.Started = started
		}
	}
	return st, nil
}

// BootEnabled reads launchd's override database (print-disabled): a label
// with no override there is not known (its plist's Disabled key decides,
// at the next bootstrap).
func (m Manager) BootEnabled(ctx context.Context, label string) (enabled, known bool, err error) {
	overrides, err := m.r.PrintDisabled(ctx)
	if err != nil {
		return false, false, asked(err, true)
	}
	disabled, ok := overrides[label]
	return !disabled, ok, nil
}

// DeathCause is launchd's last exit code or terminating signal of the
// label: launchd keeps it across KeepAlive's restart.
func (m Manager) DeathCause(ctx context.Context, label string, st *service.Status, _ time.Time) service.Cause {
	if st == nil {
		var err error
		if st, err = m.Status(ctx, label); err != nil {
			return service.Cause{}
		}
	}
	if st.LastExit == "" {
		return service.Cause{}
	}
	return service.Cause{Exit: st.LastExit, Source: "launchd"}
}

// Restart is `kickstart -k` and verify (Runner.Restart).
func (m Manager) Restart(ctx context.Context, label string, verify func(context.Context) error) (*service.Result, error) {
	res, err := m.r.Restart(ctx, label, verify)
	return res, asked(err, false)
}

// RestartCommand is the command line of Restart.
func (m Manager) RestartCommand(label string) string {
	return m.r.CommandLine("kickstart", "-k", m.r.Service(label))
}

// Start is `launchctl kickstart`: the label runs now if it did not.
func (m Manager) Start(ctx context.Context, label string) error {
	return asked(m.r.Kickstart(ctx, label, false), false)
}

// PromoteFallback is Runner.PromoteFallback.
func (m Manager) PromoteFallback(ctx context.Context, o service.PromoteOpts) (*service.Result, error) {
	res, err := m.r.PromoteFallback(ctx, o)
	return res, asked(err, false)
}

// ResumePromotion is Runner.ResumePromotion.
func (m Manager) ResumePromotion(ctx context.Context, o service.PromoteOpts) (*service.Result, error) {
	res, err := m.r.ResumePromotion(ctx, o)
	return res, asked(err, false)
}

// RestorePrimary is Runner.RestorePrimary.
func (m Manager) RestorePrimary(ctx context.Context, o service.RestoreOpts) (*service.Result, error) {
	res, err := m.r.RestorePrimary(ctx, o)
	return res, asked(err, false)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
