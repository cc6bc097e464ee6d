package probe

import (
	"io"
	"log/slog"
	"time"

	"github.com/sanctum/council-probes/pkg/core/state"
)

// NewTick returns a tick of p for tests of a probe's decisions in-process
// (probetest.NewTick builds one): its checks report into it as in a real
// tick, and the alert engine, under p's policies and the contract's,
// decides over st's channels which alerts it queues (Notices), at the
// times now says; st is the state as the last tick left it. Nothing around
// the decisions runs: no lock, no log file, no configuration check, no
// transport (Client and Server are the caller's to set), no alert
// delivery, and nothing is saved (StatePath is empty). Events go to log.
//
// It is for tests only: a probe's binary runs the real tick with Run.
func NewTick(p *Probe, cfg Common, st *state.File, log *slog.Logger, now func() time.Time) *Tick {
	t := &Tick{
		Probe: p, Common: cfg, Log: log.With("probe", p.Name), State: st, Out: io.Discard,
		Now: now, Start: now(), restarts: -1,
	}
	t.startState()
	return t
}
