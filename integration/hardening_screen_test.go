package integration

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/state"
)

// What an operator reads and sets: drift's --watch-probe interval is the
// operator's word about how often a probe runs, so it wins over the
// interval the probe recorded in its own state file (that one is only the
// default for a probe no flag names).
const (
	fWatchLonger  = "watch-probe interval longer than the state's"
	fWatchShorter = "watch-probe interval shorter than the state's"
	fOldNames     = "state from before short channel names"
)

func init() {
	register("drift", []string{fWatchLonger, fWatchShorter, fOldNames}, screenDriftCells)
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
		{fault: fOldNames,
			setup: func(t *testing.T, w *world) {
				// An upgrade on a host with an open drift: the state names
				// the channel after the absolute path and alerted an hour
				// ago, inside drift's 6h cooldown.
				d := driftOf(w)
				if err := os.WriteFile(d.Deployed, []byte(driftContent+"threads = 64\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				s := state.New("drift")
				at := time.Now().Add(-time.Hour)
				s.Channels["drifted:"+d.Deployed] = &alert.Channel{Consecutive: 1, Firing: true, Severity: alert.Error,
					Summary: "old", Since: at, LastAlert: at, LastSeverity: alert.Error}
				if err := s.Save(w.stateFile()); err != nil {
					t.Fatal(err)
				}
			},
			want: want{code: 2, event: "channel_renamed", alert: noAlert,
				then: func(t *testing.T, w *world) {
					s, err := state.Load(w.stateFile(), "drift")
					if err != nil {
						t.Fatal(err)
					}
					c := s.Channels["drifted:~/deployed/app.conf"]
					if c == nil || c.Consecutive != 2 || !c.Firing {
						t.Errorf("the renamed channel = %+v, want the open drift carried on (2 in a row, firing)", c)
					}
					for name := range s.Channels {
						if strings.HasPrefix(name, "drifted:/") {
							t.Errorf("ghost channel %q left in the state", name)
						}
					}
				}},
			note: "an open drift in old state is renamed drifted:~/deployed/app.conf with its count and cooldown: no re-alert, no false recovery, no ghost"},
	}
}
