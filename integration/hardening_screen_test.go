package integration

import (
	"testing"
	"time"
)

// What an operator reads and sets: drift's --watch-probe interval is the
// operator's word about how often a probe runs, so it wins over the
// interval the probe recorded in its own state file (that one is only the
// default for a probe no flag names).
const (
	fWatchLonger  = "watch-probe interval longer than the state's"
	fWatchShorter = "watch-probe interval shorter than the state's"
)

func init() {
	register("drift", []string{fWatchLonger, fWatchShorter}, screenDriftCells)
}

// watchProbe replaces the drift rig's --watch-probe value with v (the flag
// is a list: appending would name guardian twice).
func watchProbe(w *world, v string) {
	for i := 0; i+1 < len(w.args); i++ {
		if w.args[i] == "--watch-probe" {
			w.args[i+1] = v
			return
		}
	}
	w.args = append(w.args, "--watch-probe", v)
}

func screenDriftCells() []cell {
	return []cell{
		{fault: fWatchLonger,
			setup: func(t *testing.T, w *world) {
				// guardian's state says 30s; the operator runs it every
				// 10m (StartInterval edited), so a tick 10m old is fresh.
				w.freshTickAt("guardian", 30*time.Second, time.Now().Add(-10*time.Minute))
				watchProbe(w, "guardian=10m")
			},
			want: want{code: 0, event: "probe_fresh", check: "probe_stale:guardian"},
			note: "--watch-probe guardian=10m: a tick 10m old is fresh although the state file records 30s"},
		{fault: fWatchShorter,
			setup: func(t *testing.T, w *world) {
				// guardian's state says 5m; the operator says 5s: a tick
				// a minute old is 12 intervals late.
				w.freshTickAt("guardian", 5*time.Minute, time.Now().Add(-time.Minute))
				watchProbe(w, "guardian=5s")
			},
			want: failing(2, "probe_stale", "probe_stale:guardian"),
			note: "--watch-probe guardian=5s: a tick 1m old is stale although the state file records 5m"},
	}
}
