package drift

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"howett.net/plist"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/host/launchctl"
)

// plistReasons parses a fallback plist (XML or binary) and returns what is
// wrong with its boot discipline, each reason naming the exact key and its
// value: the fallback must never start on its own at login, so it needs
// RunAtLoad=false and Disabled=true written out. An agent with KeepAlive and
// no RunAtLoad=false starts as soon as it is bootstrapped: that is the
// seed's reboot race, where the Python fallback won :1337.
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

// launchdReason returns what is wrong with launchd's override for label:
// Disabled in a plist is read only at bootstrap, so `launchctl disable` is
// the enforcement. Empty means the label is disabled in launchd.
func launchdReason(overrides map[string]bool, label, service string) string {
	disabled, ok := overrides[label]
	switch {
	case !ok:
		return fmt.Sprintf("launchd's disabled state for %s is missing (launchctl disable %s enforces it)", label, service)
	case !disabled:
		return fmt.Sprintf("launchd has %s enabled", label)
	}
	return ""
}

// fallbackConfig is what the fallback_race check needs.
type fallbackConfig struct {
	Label, Plist, Lock string
	// Primary is the primary's label: while on the fallback, it must be
	// disabled in launchd, or a reboot starts it beside the fallback.
	Primary string
}

// checkFallback checks the fallback's boot discipline on the fallback_race
// channel. While the fallback lock exists the fallback serves on purpose and
// PromoteFallback has enabled it in launchd; then the race to watch is the
// other way round: the primary must be disabled in launchd (the promotion
// does that), or the next reboot starts the broken primary beside the
// fallback. The plist keys are checked either way, since they decide the
// next reboot.
func checkFallback(ctx context.Context, lc *launchctl.Runner, cfg fallbackConfig) finding {
	attrs := []any{"label", cfg.Label, "plist", cfg.Plist}
	lockExists, err := launchctl.FallbackLockExists(cfg.Lock)
	if err != nil {
		return unknown(CheckFallbackRace, "fallback_check_error", fmt.Sprintf("cannot read the fallback lock %s: %v", cfg.Lock, err), attrs...)
	}
	attrs = append(attrs, "fallback_lock", lockExists)

	var reasons []string
	sev := alert.Error
	data, err := os.ReadFile(cfg.Plist)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Nothing to race at login, but nothing to promote either.
		reasons = append(reasons, fmt.Sprintf("fallback plist %s does not exist", cfg.Plist))
		sev = alert.Warn
	case err != nil:
		return unknown(CheckFallbackRace, "fallback_check_error", fmt.Sprintf("cannot read fallback plist: %v", err), attrs...)
	default:
		r, err := plistReasons(data, cfg.Label)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", cfg.Plist, err))
		}
		reasons = append(reasons, r...)
	}

	// Off the fallback, the fallback must be disabled in launchd; on it,
	// the primary must be.
	mustBeDisabled := cfg.Label
	if lockExists {
		mustBeDisabled = cfg.Primary
	}
	if mustBeDisabled != "" {
		overrides, err := lc.PrintDisabled(ctx)
		if err != nil {
			if len(reasons) == 0 {
				return unknown(CheckFallbackRace, "launchctl_error", fmt.Sprintf("cannot read launchd's disabled state: %v", err), attrs...)
			}
			reasons = append(reasons, fmt.Sprintf("cannot read launchd's disabled state: %v", err))
		} else if r := launchdReason(overrides, mustBeDisabled, lc.Service(mustBeDisabled)); r != "" {
			if lockExists {
				r = "on the fallback, but " + r + ": a reboot would start the primary beside the fallback"
			}
			reasons = append(reasons, r)
		}
	}
	if len(reasons) == 0 {
		event := "fallback_disciplined"
		if lockExists {
			event = "fallback_serving"
		}
		return pass(CheckFallbackRace, event, attrs...)
	}
	if len(reasons) > 1 {
		sev = alert.Error
	}
	summary := fmt.Sprintf("fallback %s: %s", cfg.Label, strings.Join(reasons, "; "))
	return fail(CheckFallbackRace, CheckFallbackRace, sev, summary, append(attrs, "reasons", reasons)...)
}
