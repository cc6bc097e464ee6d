package drift

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"howett.net/plist"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/host/service"
)

// plistReasons parses a fallback plist (XML or binary) and returns what is
// wrong with its boot discipline, each reason naming the exact key and its
// value: the fallback must never start on its own at login, so it needs
// RunAtLoad=false and Disabled=true written out. An agent with KeepAlive and
// no RunAtLoad=false starts as soon as it is bootstrapped: that is the
// reboot race of incident I5 (docs/DESIGN.md), where the Python fallback
// won :1337.
func plistReasons(data []byte, label string) ([]string, error) {
	var p map[string]any
	if _, err := plist.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("parse plist: %w", err)
	}
	if p == nil {
		return nil, errors.New("parse plist: top level is not a dictionary")
	}
	var reasons []string
	if got, ok := p["Label"].(string); !ok {
		reasons = append(reasons, fmt.Sprintf("Label is missing (want %s)", label))
	} else if got != label {
		reasons = append(reasons, fmt.Sprintf("Label is %q, want %q", got, label))
	}

	keepAlive := ""
	switch v := p["KeepAlive"].(type) {
	case bool:
		if v {
			keepAlive = "KeepAlive=true"
		}
	case map[string]any:
		keepAlive = "KeepAlive (a condition dictionary)"
	}
	switch v, present := p["RunAtLoad"]; {
	case !present && keepAlive != "":
		reasons = append(reasons, fmt.Sprintf("RunAtLoad is missing (%s starts it at login)", keepAlive))
	case !present:
		reasons = append(reasons, "RunAtLoad is missing (it must be written out as false)")
	default:
		if b, ok := v.(bool); !ok {
			reasons = append(reasons, fmt.Sprintf("RunAtLoad is a %s, want <false/>", plistType(v)))
		} else if b {
			reasons = append(reasons, "RunAtLoad is true (it starts at login)")
		}
	}
	switch v, present := p["Disabled"]; {
	case !present:
		reasons = append(reasons, "Disabled is missing (a login bootstrap loads it enabled)")
	default:
		if b, ok := v.(bool); !ok {
			reasons = append(reasons, fmt.Sprintf("Disabled is a %s, want <true/>", plistType(v)))
		} else if !b {
			reasons = append(reasons, "Disabled is false (a login bootstrap loads it enabled)")
		}
	}
	return reasons, nil
}

func plistType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case map[string]any:
		return "dictionary"
	case []any:
		return "array"
	case uint64, int64, float64:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// bootReason returns what is wrong with the manager's boot state of a job
// that must not start on its own (enabled, known from BootEnabled; target
// is the job as the manager names it). Empty means it will not start at
// boot or login. launchd: its override database is the enforcement
// (Disabled in a plist is read only at bootstrap), so an absent override
// is a reason too. systemd: a unit that is not enabled (disabled, static)
// does not start at boot; one with no unit file has nothing to start.
func bootReason(kind service.Kind, name, target string, enabled, known bool) string {
	switch {
	case kind == service.Launchd && !known:
		return fmt.Sprintf("launchd's disabled state for %s is missing (launchctl disable %s enforces it)", name, target)
	case kind == service.Launchd && enabled:
		return fmt.Sprintf("launchd has %s enabled", name)
	case enabled:
		return fmt.Sprintf("systemd has %s enabled (it starts at boot; systemctl disable %s)", target, target)
	}
	return ""
}

// fallbackConfig is what the fallback_race check needs.
type fallbackConfig struct {
	Label, Plist, Lock string
	// Primary is the primary's label: while on the fallback, it must be
	// kept from starting at boot, or a reboot starts it beside the
	// fallback.
	Primary string
}

// checkFallback checks the fallback's boot discipline on the fallback_race
// channel. While the fallback lock exists the fallback serves on purpose
// and the promotion has enabled it; then the race to watch is the other
// way round: the primary must not start at boot (the promotion disabled
// it), or the next reboot starts the broken primary beside the fallback.
//
// Under launchd the fallback's plist keys are checked either way, since
// they decide the next reboot, and a missing plist is no fallback. Under
// systemd the unit's enablement is the boot discipline, and a unit
// systemd does not know is no fallback: a host with no fallback has
// nothing to race. The second return is the manager's error when it could
// not be asked: the manager's part is then not judged.
func checkFallback(ctx context.Context, mgr service.Manager, cfg fallbackConfig) (finding, error) {
	attrs := []any{"label", cfg.Label, "service_manager", string(mgr.Kind())}
	if mgr.Kind() == service.Launchd {
		attrs = append(attrs, "plist", cfg.Plist)
	}
	lockExists, err := service.FallbackLockExists(cfg.Lock)
	if err != nil {
		return unknown(CheckFallbackRace, "fallback_check_error", fmt.Sprintf("cannot read the fallback lock %s: %v", cfg.Lock, err), attrs...), nil
	}
	attrs = append(attrs, "fallback_lock", lockExists)

	var reasons []string
	if mgr.Kind() == service.Launchd {
		data, err := atomicfile.ReadRegular(cfg.Plist, service.MaxPlist)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !lockExists:
			// No fallback on this host: nothing can race the primary.
			return pass(CheckFallbackRace, "fallback_absent", append(attrs, "detail", "no fallback plist: nothing to race")...), nil
		case errors.Is(err, fs.ErrNotExist):
			reasons = append(reasons, fmt.Sprintf("on the fallback, but its plist %s does not exist", cfg.Plist))
		case err != nil:
			return unknown(CheckFallbackRace, "fallback_check_error", fmt.Sprintf("cannot read fallback plist: %v", err), attrs...), nil
		default:
			r, err := plistReasons(data, cfg.Label)
			if err != nil {
				reasons = append(reasons, fmt.Sprintf("%s: %v", cfg.Plist, err))
			}
			reasons = append(reasons, r...)
		}
	} else if !lockExists {
		st, err := mgr.Status(ctx, cfg.Label)
		switch {
		case errors.Is(err, service.ErrNotLoaded):
			return pass(CheckFallbackRace, "fallback_absent", append(attrs, "detail", "systemd knows no fallback unit: nothing to race")...), nil
		case errors.Is(err, service.ErrUnavailable):
			return notJudged(CheckFallbackRace, attrs...), err
		case err != nil:
			return unknown(CheckFallbackRace, "service_manager_error", fmt.Sprintf("cannot ask systemd about %s: %v", cfg.Label, err), attrs...), nil
		case st.Running():
			reasons = append(reasons, fmt.Sprintf("%s runs (pid %d) while the primary serves: it races the primary for the port", mgr.Target(cfg.Label), st.PID))
		}
	}

	// Off the fallback, the fallback must not start at boot; on it, the
	// primary must not.
	mustBeDisabled := cfg.Label
	if lockExists {
		mustBeDisabled = cfg.Primary
	}
	if mustBeDisabled != "" {
		enabled, known, err := mgr.BootEnabled(ctx, mustBeDisabled)
		switch {
		case err != nil && errors.Is(err, service.ErrUnavailable) && len(reasons) == 0:
			return notJudged(CheckFallbackRace, attrs...), err
		case err != nil:
			if len(reasons) == 0 {
				return unknown(CheckFallbackRace, "service_manager_error", fmt.Sprintf("cannot read %s's boot state of %s: %v", mgr.Kind(), mustBeDisabled, err), attrs...), nil
			}
			reasons = append(reasons, fmt.Sprintf("cannot read %s's boot state of %s: %v", mgr.Kind(), mustBeDisabled, err))
		default:
			if r := bootReason(mgr.Kind(), mustBeDisabled, mgr.Target(mustBeDisabled), enabled, known); r != "" {
				if lockExists {
					r = "on the fallback, but " + r + ": a reboot would start the primary beside the fallback"
				}
				reasons = append(reasons, r)
			}
		}
	}
	if len(reasons) == 0 {
		event := "fallback_disciplined"
		if lockExists {
			event = "fallback_serving"
		}
		return pass(CheckFallbackRace, event, attrs...), nil
	}
	summary := fmt.Sprintf("fallback %s: %s", cfg.Label, strings.Join(reasons, "; "))
	return fail(CheckFallbackRace, CheckFallbackRace, alert.Error, summary, append(attrs, "reasons", reasons)...), nil
}
