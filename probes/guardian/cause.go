package guardian

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/host/service"
)

// deathCause is why the primary died, as far as can be told: how the
// service manager saw its last process end, and the matching fatal lines
// of its log. Every restart and promotion event and alert carries it when
// there is one.
type deathCause struct {
	// LastExit is the manager's last exit code or terminating signal, as
	// the manager's package words it ("signal 11 (Segmentation fault:
	// 11)" under launchd, "signal 11 (SIGSEGV)" under systemd); empty
	// when the manager reports none.
	LastExit string
	// Source says where LastExit was read: "launchd", "systemd" (the
	// unit's properties) or "journal" (systemd's, once Restart= has
	// covered the death up).
	Source string
	// Lines are up to maxCauseLines log lines matching a fatal signature,
	// oldest first, redacted and cut.
	Lines []string
}

// Empty reports whether nothing is known.
func (c deathCause) Empty() bool { return c.LastExit == "" && len(c.Lines) == 0 }

// String is the cause for an alert message: "launchd: last exit signal 11
// (Segmentation fault: 11); log: <line> | <line>".
func (c deathCause) String() string {
	var parts []string
	if c.LastExit != "" {
		parts = append(parts, c.Source+": last exit "+c.LastExit)
	}
	if len(c.Lines) > 0 {
		parts = append(parts, "log: "+strings.Join(c.Lines, " | "))
	}
	return strings.Join(parts, "; ")
}

// attrs are the event-log attributes of the cause. Not inlined: a dozen
// alert paths call it, and each inlined copy builds the slice (the
// guardian is held to a size budget).
//
//go:noinline
func (c deathCause) attrs() []any {
	if c.Empty() {
		return nil
	}
	return []any{"last_exit", c.LastExit, "last_exit_source", c.Source, "fatal_lines", c.Lines}
}

// withCause appends the cause to an alert message. Not inlined, as attrs.
//
//go:noinline
func withCause(msg string, c deathCause) string {
	if c.Empty() {
		return msg
	}
	return msg + " (cause: " + c.String() + ")"
}

// causeFrom builds the cause from the manager's view of the primary (nil
// when unreadable: it is asked again), its account of the last death no
// older than since, and the primary log's tail.
func (g *guardian) causeFrom(ctx context.Context, st *service.Status, since time.Time, tail []byte) deathCause {
	var c deathCause
	if st != nil {
		mc := g.mgr.DeathCause(ctx, g.t.Common.PrimaryLabel, st, since)
		c.LastExit, c.Source = redact.String(mc.Exit), mc.Source
	}
	sigs := append(append([]string(nil), g.s.FatalSignatures...), g.s.RestartSignatures...)
	c.Lines = causeLines(tail, sigs, maxCauseLines)
	return c
}

// causeSince is how far back a cause is looked for in the manager's
// journal: since the last look at the primary, or the crash window.
func (g *guardian) causeSince() time.Time {
	var seen serviceSeen
	if ok, err := g.t.State.Get(serviceSeenKey, &seen); !ok || err != nil {
		seen = serviceSeen{}
	}
	return g.lookedSince(seen.At)
}

// lookedSince is causeSince for a last look at at: a little before it, or
// the crash window when there was none. A look dated after now (a clock
// stepped back) is no look: the journal since then says nothing.
func (g *guardian) lookedSince(at time.Time) time.Time {
	if !at.IsZero() && len(g.t.DropFuture(serviceSeenKey+".at", []time.Time{at})) == 1 {
		return at.Add(-futureSkew)
	}
	return g.t.Now().Add(-g.s.CrashWindow)
}

// primaryInfo is the service manager's view of the primary; nil when it
// cannot say (not loaded: logged; the manager unavailable: reported on
// the service_manager channel).
func (g *guardian) primaryInfo(ctx context.Context) *service.Status {
	st, err := g.mgr.Status(ctx, g.t.Common.PrimaryLabel)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		if g.t.ManagerAnswered(g.mgr.Kind(), err) || !errors.Is(err, service.ErrUnavailable) {
			g.t.Log.Warn("service_status_failed", "label", g.t.Common.PrimaryLabel, "service_manager", string(g.mgr.Kind()),
				"error", redact.Error(err))
		}
		return nil
	}
	g.t.ManagerAnswered(g.mgr.Kind(), nil)
	return st
}
