package guardian

import (
	"context"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/host/service"
)

// CheckCrashed is the channel of a primary its service manager restarted
// by itself: launchd's KeepAlive and systemd's Restart= bring a crashed
// server back so fast that /v1/models never notices, and without this
// channel nobody would.
const CheckCrashed = "crashed"

// Defaults of the crashed check.
const (
	defaultCrashLoop   = 3
	defaultCrashWindow = 30 * time.Minute
)

// State keys: the service manager's view of the primary at the last look,
// and the times of recent crashes. legacySeenKey is the launchd-only view
// of older versions, dropped on sight.
const (
	serviceSeenKey = "service_seen"
	legacySeenKey  = "launchd_seen"
	crashesKey     = "crash_history"
)

// serviceSeen is what the service manager said about the primary at the
// last look, and which process ran then.
type serviceSeen struct {
	Manager  service.Kind `json:"manager"`
	Restarts int          `json:"restarts"`
	LastExit string       `json:"last_exit"`
	// Process is the primary's main process as the kernel names it (pid
	// and start time), so the next healthy tick can tell, without asking
	// the manager, that it is still the same one.
	Process service.Process `json:"process,omitzero"`
	At      time.Time       `json:"at"`
}

// seenOf is the part of st the crashed check compares between ticks.
func (g *guardian) seenOf(st *service.Status) serviceSeen {
	seen := serviceSeen{Manager: g.mgr.Kind(), Restarts: st.Restarts, LastExit: st.LastExit, At: g.t.Now()}
	if st.Running() {
		if p, err := service.Identify(st.PID); err == nil {
			seen.Process = p
		}
	}
	return seen
}

// noteManager records the manager's current view of the primary, so a
// restart the guardian itself made is not taken for a crash.
func (g *guardian) noteManager(ctx context.Context) {
	if st := g.primaryInfo(ctx); st != nil {
		g.t.State.Put(serviceSeenKey, g.seenOf(st))
	}
}

// checkCrashed runs when the primary answers: did its service manager
// restart it since the last look (its restart count rose), or does its
// last exit read differently and badly (a signal, a non-zero code)? Then
// it crashed and the manager hid it.
//
// A healthy tick asks the manager nothing when it need not: if the process
// seen at the last look still runs (the same pid with the same start
// time, read from the kernel), nothing can have restarted it. The manager
// is asked only when the process changed or went, when there is none on
// record yet, or when the record is another manager's.
func (g *guardian) checkCrashed(ctx context.Context) {
	t := g.t
	loop, window := g.s.CrashLoop, g.s.CrashWindow
	delete(t.State.Data, legacySeenKey)
	var prev serviceSeen
	had, err := t.State.Get(serviceSeenKey, &prev)
	if err != nil || prev.Manager != g.mgr.Kind() {
		had = false
	}
	var crashes []time.Time
	if _, err := t.State.Get(crashesKey, &crashes); err != nil {
		crashes = nil
	}
	crashes = recentCrashes(t.DropFuture(crashesKey, crashes), t.Now(), window)
	// A start time after now (a clock stepped back) is dropped: it
	// matches no process, so the manager is asked and the record replaced.
	if !prev.Process.Started.IsZero() && len(t.DropFuture(serviceSeenKey+".process.started", []time.Time{prev.Process.Started})) == 0 {
		prev.Process.Started = time.Time{}
	}
	if had && prev.Process.StillRunning() {
		t.State.Put(crashesKey, crashes)
		if len(crashes) == 0 {
			t.Clear(CheckCrashed)
		}
		return
	}

	st, err := g.mgr.Status(ctx, t.Common.PrimaryLabel)
	if err != nil {
		// Not loaded (a primary run by hand, or a restore in progress):
		// the manager has nothing to tell. Unavailable: said once, on
		// the service_manager channel.
		if t.ManagerAnswered(g.mgr.Kind(), err) {
			t.Log.Info("crashed_skip", "check", CheckCrashed, "reason", redact.Error(err))
		} else {
			t.Log.Info("not_judged", "check", CheckCrashed, "reason", "the service manager cannot be asked (service_manager)")
		}
		return
	}
	t.ManagerAnswered(g.mgr.Kind(), nil)
	now := g.seenOf(st)
	t.State.Put(serviceSeenKey, now)

	crashed := had && (now.Restarts > prev.Restarts || (now.Restarts == prev.Restarts && now.LastExit != prev.LastExit && st.Abnormal))
	if !crashed {
		t.State.Put(crashesKey, crashes)
		if len(crashes) == 0 {
			t.Clear(CheckCrashed)
		}
		return
	}
	crashes = append(crashes, t.Now())
	t.State.Put(crashesKey, crashes)
	cause := g.causeFrom(ctx, st, g.lookedSince(prev.At), g.primaryLogTail(ctx))
	restarts := max(now.Restarts-prev.Restarts, 1)
	manager := string(g.mgr.Kind())
	attrs := append([]any{"restarts", st.Restarts, "previous_restarts", prev.Restarts, "crashes_in_window", len(crashes),
		"window_s", int(window.Seconds()), "pid", st.PID, "service_manager", manager}, cause.attrs()...)
	if loop > 0 && len(crashes) >= loop {
		t.Fail(CheckCrashed, "crashed", alert.Error,
			withCause(fmt.Sprintf("primary %s is crash-looping: %d crashes in %s, each hidden by %s's restart",
				t.Common.PrimaryLabel, len(crashes), window, manager), cause), attrs...)
		return
	}
	t.Fail(CheckCrashed, "crashed", alert.Warn,
		withCause(fmt.Sprintf("%s restarted primary %s by itself (%d time(s) since the last look); it serves again",
			manager, t.Common.PrimaryLabel, restarts), cause), attrs...)
}

// recentCrashes keeps the crashes within window before now (a crash dated
// in the future, a clock stepped back, is dropped: it cannot be judged).
func recentCrashes(all []time.Time, now time.Time, window time.Duration) []time.Time {
	var kept []time.Time
	for _, ts := range all {
		if d := now.Sub(ts); d >= 0 && d < window {
			kept = append(kept, ts)
		}
	}
	return kept
}
