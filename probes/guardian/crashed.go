package guardian

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/host/launchctl"
)

// CheckCrashed is the channel of a primary launchd restarted by itself:
// KeepAlive brings a crashed server back so fast that /v1/models never
// notices, and without this channel nobody would.
const CheckCrashed = "crashed"

// Defaults of the crashed check.
const (
	defaultCrashLoop   = 3
	defaultCrashWindow = 30 * time.Minute
)

// State keys: launchd's view of the primary at the last tick, and the
// times of recent crashes.
const (
	launchdSeenKey = "launchd_seen"
	crashesKey     = "crash_history"
)

// launchdSeen is what launchd said about the primary at the last look.
type launchdSeen struct {
	Runs     int    `json:"runs"`
	LastExit string `json:"last_exit"`
}

func crashedFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "crash-loop", EnvVars: env("CRASH_LOOP"), Value: defaultCrashLoop,
			Usage: "this many crashes of the primary within --crash-window alert at error (one is a warn)"},
		&cli.DurationFlag{Name: "crash-window", EnvVars: env("CRASH_WINDOW"), Value: defaultCrashWindow, Usage: "window of --crash-loop"},
	}
}

// checkCrashedFlags checks the crashed check's flags. The check runs only
// on a healthy tick; tick calls this on every one, so a typo is caught at
// once.
func checkCrashedFlags(c *cli.Context) error {
	switch {
	case c.Int("crash-loop") < 0:
		return fmt.Errorf("bad --crash-loop %d: want 0 or more", c.Int("crash-loop"))
	case c.Duration("crash-window") <= 0:
		return fmt.Errorf("bad --crash-window %s: want a positive duration", c.Duration("crash-window"))
	}
	return nil
}

// seenOf is the part of info the crashed check compares between ticks.
func seenOf(info *launchctl.ServiceInfo) launchdSeen {
	return launchdSeen{Runs: info.Runs, LastExit: info.LastExit + "|" + info.LastSignal}
}

// noteLaunchd records launchd's current view of the primary, so a restart
// the guardian itself made is not taken for a crash.
func (g *guardian) noteLaunchd(ctx context.Context) {
	if info := g.primaryInfo(ctx); info != nil {
		g.t.State.Put(launchdSeenKey, seenOf(info))
	}
}

// checkCrashed runs when the primary answers: did launchd restart it
// since the last tick (its runs count rose), or does its last exit read
// differently and badly (a signal, a non-zero code)? Then it crashed and
// KeepAlive hid it.
func (g *guardian) checkCrashed(ctx context.Context) {
	t := g.t
	loop, window := t.C.Int("crash-loop"), t.C.Duration("crash-window")
	info, err := g.runner.Print(ctx, t.Common.PrimaryLabel)
	if err != nil {
		// Not loaded (a primary run by hand, or a restore in progress):
		// launchd has nothing to tell.
		t.Log.Info("crashed_skip", "check", CheckCrashed, "reason", redact.Error(err))
		return
	}
	now := seenOf(info)
	var prev launchdSeen
	had, err := t.State.Get(launchdSeenKey, &prev)
	if err != nil {
		had = false
	}
	t.State.Put(launchdSeenKey, now)

	var crashes []time.Time
	if _, err := t.State.Get(crashesKey, &crashes); err != nil {
		crashes = nil
	}
	crashes = recentCrashes(t.DropFuture(crashesKey, crashes), t.Now(), window)

	crashed := had && (now.Runs > prev.Runs || (now.Runs == prev.Runs && now.LastExit != prev.LastExit && info.Abnormal()))
	if !crashed {
		t.State.Put(crashesKey, crashes)
		if len(crashes) == 0 {
			t.Clear(CheckCrashed)
		}
		return
	}
	crashes = append(crashes, t.Now())
	t.State.Put(crashesKey, crashes)
	cause := g.causeFrom(info, g.primaryLogTail())
	restarts := max(now.Runs-prev.Runs, 1)
	attrs := append([]any{"runs", info.Runs, "previous_runs", prev.Runs, "crashes_in_window", len(crashes),
		"window_s", int(window.Seconds()), "pid", info.PID}, cause.attrs()...)
	if loop > 0 && len(crashes) >= loop {
		t.Fail(CheckCrashed, "crashed", alert.Error,
			withCause(fmt.Sprintf("primary %s is crash-looping: %d crashes in %s, each hidden by launchd's KeepAlive restart",
				t.Common.PrimaryLabel, len(crashes), window), cause), attrs...)
		return
	}
	t.Fail(CheckCrashed, "crashed", alert.Warn,
		withCause(fmt.Sprintf("launchd restarted primary %s by itself (%d time(s) since the last tick); it serves again",
			t.Common.PrimaryLabel, restarts), cause), attrs...)
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
