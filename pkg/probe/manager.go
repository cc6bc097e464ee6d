package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/host/systemctl"
)

// CheckServiceManager is the channel of a service manager that cannot be
// asked at all (no launchctl or systemctl, no user manager running,
// launchctl itself failing): one UNKNOWN naming why, instead of one false
// verdict per check that needed it.
const CheckServiceManager = "service_manager"

// ManagerKind resolves a --service-manager value on goos: auto is launchd
// on macOS and systemd on Linux.
func ManagerKind(value, goos string) (service.Kind, error) {
	switch value {
	case "launchd":
		return service.Launchd, nil
	case "systemd":
		return service.Systemd, nil
	case "auto", "":
		switch goos {
		case "darwin":
			return service.Launchd, nil
		case "linux":
			return service.Systemd, nil
		}
		return "", fmt.Errorf("--service-manager auto: no service manager is known on %s; set launchd or systemd", goos)
	}
	return "", fmt.Errorf("bad --service-manager %q: want auto, launchd or systemd", value)
}

// checkName validates a job name for the manager kind.
func checkName(kind service.Kind, name string) error {
	if kind == service.Systemd {
		return systemctl.ValidateUnit(name)
	}
	return launchctl.ValidateLabel(name)
}

// NewManager builds the service manager the common flags in cfg name, with
// dry-run mode and out (dry-run lines) from cfg and the probe's verify
// timing in o.
func NewManager(cfg Common, o service.Options, out io.Writer) (service.Manager, error) {
	kind, err := ManagerKind(cfg.ServiceManager, runtime.GOOS)
	if err != nil {
		return nil, err
	}
	o.DryRun = o.DryRun || cfg.DryRun
	if kind == service.Launchd {
		return launchctl.NewManager(cfg.Launchctl, o, out), nil
	}
	scope, err := systemctl.ParseScope(cfg.Scope)
	if err != nil {
		return nil, fmt.Errorf("--scope: %w", err)
	}
	r := systemctl.NewManager(cfg.Systemctl, cfg.Journalctl, scope, o)
	r.Out = out
	return r, nil
}

// PrimaryPID asks the service manager cfg names for the main pid of label
// (0 when it runs none), with the manager's command only: a probe that
// just samples the primary's CPU (the canary) builds no Manager, so it
// links none of the remediation recipes.
func PrimaryPID(ctx context.Context, cfg Common, label string) (pid int, kind service.Kind, err error) {
	if kind, err = ManagerKind(cfg.ServiceManager, runtime.GOOS); err != nil {
		return 0, "", err
	}
	if kind == service.Launchd {
		info, err := launchctl.New(cfg.Launchctl).Print(ctx, label)
		if err != nil {
			return 0, kind, err
		}
		if !info.Running() {
			return 0, kind, nil
		}
		return info.PID, kind, nil
	}
	scope, err := systemctl.ParseScope(cfg.Scope)
	if err != nil {
		return 0, kind, fmt.Errorf("--scope: %w", err)
	}
	u, err := systemctl.New(cfg.Systemctl, cfg.Journalctl, scope).Show(ctx, label)
	if err != nil || !u.Running() {
		return 0, kind, err
	}
	return u.MainPID, kind, nil
}

// Manager builds this tick's service manager (NewManager) and remembers its
// kind: the status line and the state file name it.
func (t *Tick) Manager(o service.Options) (service.Manager, error) {
	m, err := NewManager(t.Common, o, t.Out)
	if err != nil {
		return nil, err
	}
	t.managerKind = string(m.Kind())
	if m.Kind() == service.Systemd {
		t.managerKind += " " + t.Common.Scope
	}
	t.State.ServiceManager = t.managerKind
	return m, nil
}

// ManagerAnswered reports whether err (from asking the manager) is an
// answer the checks may judge. An error wrapping service.ErrUnavailable is
// not: it is reported once, UNKNOWN on the service_manager channel, and
// false is returned so the caller judges nothing that depended on it. Any
// other outcome (nil, not loaded, a refusal) closes that channel.
func (t *Tick) ManagerAnswered(kind service.Kind, err error) bool {
	if err != nil && errors.Is(err, service.ErrUnavailable) {
		t.Unknown(CheckServiceManager, "service_manager_unavailable",
			fmt.Sprintf("cannot ask %s: %v; the checks that need it are not judged", kind, err), "service_manager", string(kind))
		return false
	}
	if c := t.engine.Channels[CheckServiceManager]; c != nil && c.Open() {
		t.Clear(CheckServiceManager)
	}
	return true
}
