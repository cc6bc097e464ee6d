package guardian

import (
	"context"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/host/launchctl"
)

// deathCause is why the primary died, as far as can be told: how launchd saw
// its last process end, and the matching fatal lines of its log. Every
// restart and promotion event and alert carries it when there is one.
type deathCause struct {
	// LastExit is launchd's "last exit code" or "last terminating
	// signal", as ExitCause words it ("signal 11 (Segmentation fault:
	// 11)"); empty when launchd reports none.
	LastExit string
	// Lines are up to maxCauseLines log lines matching a fatal signature,
	// oldest first, redacted and cut.
	Lines []string
}

// Empty reports whether nothing is known.
func (c deathCause) Empty() bool { return c.LastExit == "" && len(c.Lines) == 0 }

// String is the cause for an alert message: "launchd: signal 11
// (Segmentation fault: 11); log: <line> | <line>".
func (c deathCause) String() string {
	var parts []string
	if c.LastExit != "" {
		parts = append(parts, "launchd: last exit "+c.LastExit)
	}
	if len(c.Lines) > 0 {
		parts = append(parts, "log: "+strings.Join(c.Lines, " | "))
	}
	return strings.Join(parts, "; ")
}

// attrs are the event-log attributes of the cause.
func (c deathCause) attrs() []any {
	if c.Empty() {
		return nil
	}
	return []any{"last_exit", c.LastExit, "fatal_lines", c.Lines}
}

// withCause appends the cause to an alert message.
func withCause(msg string, c deathCause) string {
	if c.Empty() {
		return msg
	}
	return msg + " (cause: " + c.String() + ")"
}

// causeFrom builds the cause from launchd's view of the primary (nil when
// unreadable) and the primary log's tail.
func (g *guardian) causeFrom(info *launchctl.ServiceInfo, tail []byte) deathCause {
	var c deathCause
	if info != nil {
		c.LastExit = redact.String(info.ExitCause())
	}
	sigs := append(append([]string(nil), g.s.FatalSignatures...), g.s.RestartSignatures...)
	c.Lines = causeLines(tail, sigs, maxCauseLines)
	return c
}

// primaryInfo is launchd's view of the primary; nil (logged) when print
// fails.
func (g *guardian) primaryInfo(ctx context.Context) *launchctl.ServiceInfo {
	info, err := g.runner.Print(ctx, g.t.Common.PrimaryLabel)
	if err != nil {
		if ctx.Err() == nil {
			g.t.Log.Warn("launchd_print_failed", "label", g.t.Common.PrimaryLabel, "error", redact.Error(err))
		}
		return nil
	}
	return info
}
