// Package deliver makes sure an alert arrives: it sends notices to sinks
// (Force Flow, Alertmanager) through a Dispatcher that never loses one. What
// cannot be delivered now (notifier down, timeout, 5xx, an answer that is
// not a receipt) is kept in the durable, bounded alert.Outbox in the state
// directory and delivered oldest first on a later tick. Only a refusal of
// the payload itself is permanent: logged with its reason and dropped.
//
// It is apart from package alert so that a binary that only reads probe
// state links no HTTP client.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/redact"
)

// Dispatcher delivers notices to every sink, spooling what it cannot deliver
// to the outbox and flushing the outbox oldest first.
type Dispatcher struct {
	// ProbeName is the probe this dispatcher delivers for (its own reports,
	// such as outbox overflow, are sent under it).
	ProbeName string
	Sinks     []Sink
	Outbox    *alert.Outbox
	Log       *slog.Logger
	// DryRun prints each request to DryRunOut instead of sending it.
	DryRun    bool
	DryRunOut io.Writer
	// LocalNotify, when set, is called for error and critical notices that
	// could not reach a sink (macOS: an osascript notification).
	LocalNotify func(ctx context.Context, n alert.Notice) error
	Now         func() time.Time

	// Sent and Spooled count this tick's outcomes (for the summary).
	Sent, Spooled, Dropped int
}

// Flush tries to deliver the outbox, oldest first, then reports what the
// outbox lost (a corrupt file, an overflow). Per sink it stops at the first
// retryable failure so the order is kept; a permanent rejection is logged
// and dropped. It writes the outbox once, at the end, not after every
// delivery: a backlog of hundreds is not rewritten and fsynced hundreds of
// times. A crash mid-flush can therefore send again what this flush already
// delivered; each notice carries its idempotency key, so the notifier can
// recognise the repeat, and nothing is lost.
func (d *Dispatcher) Flush(ctx context.Context) error {
	if d.Outbox == nil || d.DryRun {
		return nil
	}
	if d.Outbox.Len() > 0 {
		blocked := map[string]bool{}
		for _, p := range append([]alert.Pending(nil), d.Outbox.Entries...) {
			sink := d.sink(p.Sink)
			if sink == nil {
				// A sink that is no longer configured (e.g. --force-flow-url
				// emptied): keep the entry; it is reported by outbox depth.
				continue
			}
			if blocked[p.Sink] {
				continue
			}
			r, err := sink.Deliver(ctx, p.Notice)
			switch {
			case err == nil:
				d.Outbox.Remove(p.ID)
				d.Sent++
				d.logSent(sink, p.Notice, r, "outbox", time.Since(p.Queued))
			case errors.Is(err, ErrRejected):
				d.Outbox.Remove(p.ID)
				d.Dropped++
				d.logRejected(sink, p.Notice, err)
			default:
				blocked[p.Sink] = true
				for i := range d.Outbox.Entries {
					if d.Outbox.Entries[i].ID == p.ID {
						d.Outbox.Entries[i].Attempts++
						d.Outbox.Entries[i].LastErr = redact.Error(err)
					}
				}
			}
		}
		if err := d.Outbox.Save(); err != nil {
			return err
		}
	}
	if err := d.reportLost(ctx); err != nil {
		return err
	}
	return d.reportOverflow(ctx)
}

// reportLost sends the one alert that says a corrupt outbox lost notices.
// It goes out (or is spooled) like any other notice, so the report itself
// cannot be lost.
func (d *Dispatcher) reportLost(ctx context.Context) error {
	l := d.Outbox.Lost
	if l == nil || len(d.Sinks) == 0 {
		return nil // no sink to tell yet: keep the report
	}
	d.Outbox.Lost = nil
	n := fmt.Sprintf("%d", l.Lost)
	if l.AtLeast {
		n = "at least " + n
	}
	msg := fmt.Sprintf("the alert outbox was corrupt: %s undelivered alert(s) in it could not be read and are lost; %d were salvaged and are delivered in order; the damaged file is kept as %s. A later \"recovered\" notice may refer to an alert that never arrived.",
		n, l.Salvaged, l.Kept)
	d.Log.Error("outbox_lost", "lost", l.Lost, "at_least", l.AtLeast, "salvaged", l.Salvaged, "kept", l.Kept)
	return d.Send(ctx, alert.Notice{
		Probe: d.probeName(), Check: "outbox_corrupt", Severity: alert.Error,
		Title: fmt.Sprintf("council-%s: outbox_corrupt", d.probeName()), Message: msg, At: d.now(),
	})
}

// reportOverflow turns a non-zero overflow count into one alert once a
// sink has drained its backlog and the outbox has room, so dropped notices
// are never silent.
func (d *Dispatcher) reportOverflow(ctx context.Context) error {
	if d.Outbox.Overflowed == 0 || d.Outbox.Len() >= d.Outbox.Max {
		return nil
	}
	// Report once some configured sink has drained its backlog: entries
	// kept for a sink no longer configured (or one that stays down) must
	// not hold the report back forever.
	drained := false
	for _, s := range d.Sinks {
		drained = drained || !d.Outbox.HasPending(s.Name())
	}
	if !drained {
		return nil
	}
	n := d.Outbox.Overflowed
	d.Outbox.Overflowed = 0
	return d.Send(ctx, alert.Notice{
		Probe: d.probeName(), Check: "outbox_overflow", Severity: alert.Error,
		Title:   fmt.Sprintf("council-%s: outbox_overflow", d.probeName()),
		Message: fmt.Sprintf("%d alert(s) were dropped because the outbox was full while the notifier was unreachable; see the probe log for each", n),
		At:      d.now(),
	})
}

// probeName names the source of the overflow report.
func (d *Dispatcher) probeName() string {
	if d.ProbeName != "" {
		return d.ProbeName
	}
	return "probe"
}

// Send delivers n to every sink, or spools it. It returns an error (wrapping
// ErrNotSaved) only when n had to be spooled and the outbox could not be
// saved: the one way a notice could be lost, so the caller must surface it.
func (d *Dispatcher) Send(ctx context.Context, n alert.Notice) error {
	if d.DryRun {
		d.dryRun(n)
		return nil
	}
	failedAll := len(d.Sinks) > 0
	spooled := false
	for _, s := range d.Sinks {
		if d.Outbox.HasPending(s.Name()) {
			d.spool(s, n, "queued behind earlier undelivered alerts")
			spooled = true
			continue
		}
		r, err := s.Deliver(ctx, n)
		switch {
		case err == nil:
			failedAll = false
			d.Sent++
			d.logSent(s, n, r, "direct", 0)
		case errors.Is(err, ErrRejected):
			d.Dropped++
			d.logRejected(s, n, err)
		default:
			d.spool(s, n, redact.Error(err))
			spooled = true
		}
	}
	if failedAll && d.LocalNotify != nil && n.Severity.Rank() >= alert.Error.Rank() {
		if err := d.LocalNotify(ctx, n); err != nil {
			d.Log.Warn("local_notify_failed", "check", n.Check, "error", redact.Error(err))
		}
	}
	if err := d.Outbox.Save(); err != nil && spooled {
		// The one way a notice can be lost: it is neither delivered nor on
		// disk. The caller must undo its bookkeeping and surface this.
		return fmt.Errorf("%w: %w", ErrNotSaved, err)
	}
	return nil
}

// SendDirect delivers n to every sink without the outbox: for the alert
// saying the state dir cannot be written, where the outbox may not be
// writable either. What cannot be delivered is logged and, where there is
// one, raises a local notification; nothing is spooled.
func (d *Dispatcher) SendDirect(ctx context.Context, n alert.Notice) {
	if d.DryRun {
		d.dryRun(n)
		return
	}
	delivered := false
	for _, s := range d.Sinks {
		r, err := s.Deliver(ctx, n)
		if err != nil {
			d.Log.Error("alert_failed", "check", n.Check, "sink", s.Name(), "severity", string(n.Severity),
				"title", n.Title, "error", redact.Error(err), "reason", "sent directly, not spooled")
			continue
		}
		delivered = true
		d.Sent++
		d.logSent(s, n, r, "direct", 0)
	}
	if !delivered && d.LocalNotify != nil {
		if err := d.LocalNotify(ctx, n); err != nil {
			d.Log.Warn("local_notify_failed", "check", n.Check, "error", redact.Error(err))
		}
	}
}

// dryRun prints the request each sink would make for n.
func (d *Dispatcher) dryRun(n alert.Notice) {
	for _, s := range d.Sinks {
		fmt.Fprintf(d.DryRunOut, "dry-run: would send alert: %s\n", s.DryRun(n))
		d.Log.Info("alert_dry_run", "check", n.Check, "sink", s.Name(), "severity", string(n.Severity), "title", n.Title)
	}
}

// ErrNotSaved marks a notice that could neither be delivered nor saved to
// the outbox.
var ErrNotSaved = errors.New("alert neither delivered nor saved to the outbox")

func (d *Dispatcher) spool(s Sink, n alert.Notice, reason string) {
	d.Spooled++
	d.Log.Warn("alert_spooled", "check", n.Check, "sink", s.Name(), "severity", string(n.Severity),
		"title", n.Title, "reason", reason, "outbox_depth", d.Outbox.Len()+1)
	if dropped := d.Outbox.Add(s.Name(), n, d.now(), reason); dropped != nil {
		d.Log.Error("alert_dropped", "check", dropped.Notice.Check, "sink", dropped.Sink,
			"severity", string(dropped.Notice.Severity), "title", dropped.Notice.Title,
			"reason", "outbox full", "overflowed", d.Outbox.Overflowed)
	}
}

func (d *Dispatcher) logSent(s Sink, n alert.Notice, r Receipt, via string, waited time.Duration) {
	attrs := []any{"check", n.Check, "sink", s.Name(), "severity", string(n.Severity), "title", n.Title,
		"via", via, "http_status", r.HTTPStatus, "deduplicated", r.Deduplicated, "rate_limited", r.RateLimited,
		"quiet_hours", r.QuietHours}
	if r.Status != "" {
		attrs = append(attrs, "status", r.Status)
	}
	if len(r.Channels) > 0 {
		attrs = append(attrs, "channels", r.Channels)
	}
	if waited > 0 {
		attrs = append(attrs, "spooled_for_ms", waited.Milliseconds())
	}
	d.Log.Info("alert_sent", attrs...)
}

func (d *Dispatcher) logRejected(s Sink, n alert.Notice, err error) {
	d.Log.Error("alert_rejected", "check", n.Check, "sink", s.Name(), "severity", string(n.Severity),
		"title", n.Title, "error", redact.Error(err))
}

func (d *Dispatcher) sink(name string) Sink {
	for _, s := range d.Sinks {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}
