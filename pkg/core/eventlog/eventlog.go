// Package eventlog is the probes' JSON-lines event log: a log/slog JSON
// handler shaped to the contract (ts, level, probe, event, ...), written to a
// file that rotates by size inside the process.
//
// Every event is one slog record, and the JSON handler writes one record with
// one Write call. File turns that call into one append(2) on an O_APPEND
// descriptor while holding an flock on a sidecar lock file, so two probes (or
// two ticks) writing the same log never interleave or tear a line, and a
// rotation by one writer is noticed by the other before its next line.
package eventlog

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"
)

// LevelCritical sits above slog.LevelError; it renders as "critical".
const LevelCritical = slog.Level(12)

// Level returns the slog level for a contract level name
// (info|warn|error|critical). Unknown names map to info.
func Level(name string) slog.Level {
	switch strings.ToLower(name) {
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	case "critical":
		return LevelCritical
	}
	return slog.LevelInfo
}

// LevelName is the contract's name for a slog level.
func LevelName(l slog.Level) string {
	switch {
	case l >= LevelCritical:
		return "critical"
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warn"
	}
	return "info"
}

// NewHandler returns a JSON handler that writes the contract's field names:
// "ts" (RFC 3339, UTC, milliseconds) instead of "time", lower-case contract
// level names, and "event" instead of "msg", so logger.Info("probe_ok")
// produces {"ts":...,"level":"info","event":"probe_ok",...}.
func NewHandler(w io.Writer) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("ts", a.Value.Time().UTC().Format("2006-01-02T15:04:05.000Z07:00"))
			case slog.LevelKey:
				return slog.String("level", LevelName(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				return slog.String("event", a.Value.String())
			}
			return a
		},
	})
}

// WithDuration wraps h so every record that does not carry its own
// duration_ms gets the time elapsed since start. The contract wants
// duration_ms on every line; for events emitted mid-tick it is the tick's
// age, which is what an operator reading the log wants to see.
func WithDuration(h slog.Handler, start time.Time, now func() time.Time) slog.Handler {
	return &durationHandler{h: h, start: start, now: now}
}

type durationHandler struct {
	h     slog.Handler
	start time.Time
	now   func() time.Time
	has   bool // a With() already attached duration_ms
}

func (d *durationHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return d.h.Enabled(ctx, l)
}

func (d *durationHandler) Handle(ctx context.Context, r slog.Record) error {
	if !d.has {
		found := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "duration_ms" {
				found = true
				return false
			}
			return true
		})
		if !found {
			r.AddAttrs(slog.Int64("duration_ms", d.now().Sub(d.start).Milliseconds()))
		}
	}
	return d.h.Handle(ctx, r)
}

func (d *durationHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := d.has
	for _, a := range attrs {
		if a.Key == "duration_ms" {
			has = true
		}
	}
	return &durationHandler{h: d.h.WithAttrs(attrs), start: d.start, now: d.now, has: has}
}

func (d *durationHandler) WithGroup(name string) slog.Handler {
	return &durationHandler{h: d.h.WithGroup(name), start: d.start, now: d.now, has: d.has}
}
