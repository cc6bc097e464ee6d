package probe

import (
	"sort"
	"time"
)

// A time a probe persisted was now when it was written, so it cannot lie
// after now unless the clock stepped back since (or the state file was
// edited by hand). Taken as it is, a future time stops remediation: a
// "loading since" in the future reads as loading for -4217h and never
// passes --max-loading, a "busy since" in the future is busy for 0 ms
// forever, a cooldown's last alert in the future holds every alert back
// until then. Every persisted time is read through one of these, and a
// time after now is logged once as clock_skew, with its key:
//
//	PastTime    a "since when" is taken as now: the episode starts afresh
//	PastTimes   the same over a list
//	DropFuture  a history's entries after now are dropped: an event that
//	            has not happened yet cannot count (a crash in 2031 is no
//	            crash in the last 30 minutes)

// PastTime returns ts, or now when ts is after now; the latter is logged
// (clock_skew, warn) with key, the time and how far ahead it was.
func (t *Tick) PastTime(key string, ts time.Time) time.Time {
	now := t.Now()
	if !ts.After(now) {
		return ts
	}
	t.logSkew(key, 1, ts, now)
	return now
}

// PastTimes is PastTime over a list, logged once for all the times that
// were after now.
func (t *Tick) PastTimes(key string, ts []time.Time) []time.Time {
	now := t.Now()
	n := 0
	var latest time.Time
	for i, x := range ts {
		if x.After(now) {
			n++
			if x.After(latest) {
				latest = x
			}
			ts[i] = now
		}
	}
	if n > 0 {
		t.logSkew(key, n, latest, now)
	}
	return ts
}

// DropFuture returns the times of ts that are not after now; the others
// are logged once (clock_skew).
func (t *Tick) DropFuture(key string, ts []time.Time) []time.Time {
	now := t.Now()
	var kept []time.Time
	n := 0
	var latest time.Time
	for _, x := range ts {
		if !x.After(now) {
			kept = append(kept, x)
			continue
		}
		n++
		if x.After(latest) {
			latest = x
		}
	}
	if n > 0 {
		t.logSkew(key, n, latest, now)
	}
	return kept
}

func (t *Tick) logSkew(key string, n int, latest, now time.Time) {
	t.Log.Warn("clock_skew", "key", key, "future", n, "latest", latest.UTC().Format(time.RFC3339Nano),
		"ahead_s", int64(latest.Sub(now).Seconds()),
		"reason", "a time this probe stored lies in the future (a clock stepped back, or an edited state file); it is taken as now")
}

// pastChannelTimes reads every channel's persisted times through
// PastTime: a channel that started, last alerted or last passed in the
// future (a clock stepped back) would hold its alerts back for the
// cooldown after that time, and a recovery would say it failed for a
// negative duration.
func (t *Tick) pastChannelTimes() {
	names := make([]string, 0, len(t.State.Channels))
	for name := range t.State.Channels {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := t.State.Channels[name]
		c.Since = t.PastTime("channels."+name+".since", c.Since)
		c.LastAlert = t.PastTime("channels."+name+".last_alert", c.LastAlert)
		c.LastOK = t.PastTime("channels."+name+".last_ok", c.LastOK)
	}
}
