package drift

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/paths"
)

// staleFactor is how many intervals may pass without a completed tick
// before a probe counts as silent.
const staleFactor = 3

// watchedProbe is a probe whose heartbeat drift checks.
type watchedProbe struct {
	Name string
	// Interval is the probe's launchd interval.
	Interval time.Duration
	// FromOperator is true when an operator named the probe (--watch-probe,
	// its env var or the config file): Interval then wins over the one the
	// probe recorded in its state file. Otherwise Interval is the built-in
	// default, used only when the state file records none.
	FromOperator bool
}

// defaultWatched is the default --watch-probe list: every probe of the
// suite but drift itself (a probe cannot notice its own silence), at the
// interval it is scheduled at.
func defaultWatched(probes []suite.Probe) []string {
	var out []string
	for _, p := range probes {
		if p.Name != name {
			out = append(out, p.Name+"="+p.Interval().String())
		}
	}
	return out
}

// futureSkew is how far in the future a last tick may be (clock
// adjustments between two processes) before it counts as stale.
const futureSkew = time.Minute

// parseWatched parses --watch-probe values "name=interval".
func parseWatched(values []string) ([]watchedProbe, error) {
	var out []watchedProbe
	seen := map[string]bool{}
	for _, v := range values {
		name, iv, ok := strings.Cut(strings.TrimSpace(v), "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("bad --watch-probe %q: want name=interval, e.g. canary=10m", v)
		}
		if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return nil, fmt.Errorf("bad --watch-probe %q: want a probe name, not %q", v, name)
		}
		d, err := time.ParseDuration(strings.TrimSpace(iv))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("bad --watch-probe %q: want a positive duration like 30s or 10m after the =", v)
		}
		if seen[name] {
			return nil, fmt.Errorf("bad --watch-probe %q: want each probe once, %s is listed twice", v, name)
		}
		seen[name] = true
		out = append(out, watchedProbe{Name: name, Interval: d})
	}
	return out, nil
}

// checkStale reads each watched probe's state file in stateDir and reports
// on probe_stale:<name> whether its last completed tick is younger than
// StaleFactor intervals. The state files are only read: drift never resets
// another probe's state, even a corrupt one.
func checkStale(now time.Time, stateDir string, watched []watchedProbe) []finding {
	var out []finding
	for _, w := range watched {
		path := paths.StateFile(stateDir, w.Name)
		// Bounded, not through a symlink, never blocking on a FIFO.
		data, err := atomicfile.ReadFile(path, state.MaxSize)
		out = append(out, staleFinding(now, w, path, data, err))
	}
	return out
}

// staleFinding judges one probe's state file (data, or the error reading
// it).
func staleFinding(now time.Time, w watchedProbe, path string, data []byte, readErr error) finding {
	ch := channel(CheckProbeStale, w.Name)
	bin := paths.Base(w.Name)
	attrs := []any{"watched", w.Name, "state_file", path}
	switch {
	case errors.Is(readErr, fs.ErrNotExist):
		return fail(ch, CheckProbeStale, alert.Error, fmt.Sprintf("%s never ran: no state file %s", bin, path), attrs...)
	case readErr != nil:
		return unknown(ch, "state_read_error", fmt.Sprintf("cannot read %s's state: %v", bin, readErr), attrs...)
	}
	var f state.File
	if err := json.Unmarshal(data, &f); err != nil {
		return fail(ch, CheckProbeStale, alert.Error,
			fmt.Sprintf("%s's state file %s is corrupt (%v): no completed tick since", bin, path, err), attrs...)
	}
	interval := w.Interval
	if recorded, ok := f.Interval(); ok && !w.FromOperator {
		// The state file records the interval the probe was built with;
		// an operator who changed the plist's StartInterval says so with
		// --watch-probe, and that must win, or drift cries stale at a
		// slowed probe and stays silent about a fast one.
		interval = recorded
	}
	limit := staleFactor * interval
	attrs = append(attrs, "interval", interval.String(), "stale_after", limit.String())
	if f.LastTick.IsZero() {
		return fail(ch, CheckProbeStale, alert.Error, fmt.Sprintf("%s has never completed a tick (state file %s)", bin, path), attrs...)
	}
	age := now.Sub(f.LastTick)
	attrs = append(attrs, "last_tick", f.LastTick.UTC().Format(time.RFC3339), "age", age.Round(time.Second).String())
	if age < -futureSkew {
		// A tick "in the future" would read as fresh forever: a silent
		// probe must not hide behind a stepped-back clock or a bad file.
		return fail(ch, CheckProbeStale, alert.Error,
			fmt.Sprintf("%s's last tick %s is %s in the future (clock stepped back, or a bad state file): cannot tell it is alive",
				bin, f.LastTick.UTC().Format(time.RFC3339), (-age).Round(time.Second)), attrs...)
	}
	if age > limit {
		return fail(ch, CheckProbeStale, alert.Error,
			fmt.Sprintf("%s last completed a tick %s ago at %s (interval %s, stale after %s)",
				bin, age.Round(time.Second), f.LastTick.UTC().Format(time.RFC3339), interval, limit), attrs...)
	}
	return pass(ch, "probe_fresh", attrs...)
}
