// Package alert decides when a probe's check becomes an alert, and holds the
// data every alert path shares: severities, per-channel policy and state,
// notices, the wire formats of Force Flow and Alertmanager, and the durable
// outbox file.
//
// A channel is (probe, check): every failure mode has its own hysteresis
// (alert only after N consecutive failures), its own cooldown (re-alert at
// most once per window while it keeps failing) and its own single "recovered"
// info alert when it passes again. An urgent alert is never bundled with
// chronic noise.
//
// This package does no network I/O, so a binary that only reads probe state
// (council-status) links no HTTP client. Delivery (the Force Flow and
// Alertmanager senders, the Dispatcher that spools to the outbox) is in
// package deliver.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Severity is the contract's alert severity.
type Severity string

// The severities, in increasing order.
const (
	Info     Severity = "info"
	Warn     Severity = "warn"
	Error    Severity = "error"
	Critical Severity = "critical"
)

// Rank orders severities: info 0 < warn 1 < error 2 < critical 3.
func (s Severity) Rank() int {
	switch s {
	case Warn:
		return 1
	case Error:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// Valid reports whether s is one of the four contract severities.
func (s Severity) Valid() bool {
	return s == Info || s == Warn || s == Error || s == Critical
}

// Policy is a channel's hysteresis and cooldown.
type Policy struct {
	// Threshold is how many consecutive failures open the channel (>= 1).
	Threshold int `json:"threshold"`
	// Cooldown is the least time between two alerts of one open channel.
	Cooldown time.Duration `json:"cooldown"`
}

// Channel is the persisted state of one (probe, check) channel.
type Channel struct {
	// Consecutive counts failures in a row; 0 when passing.
	Consecutive int `json:"consecutive"`
	// Firing is true once this failure episode has alerted.
	Firing bool `json:"firing"`
	// Severity and Summary describe the latest failure.
	Severity Severity `json:"severity,omitempty"`
	Summary  string   `json:"summary,omitempty"`
	// Since is the first failure of the current episode.
	Since time.Time `json:"since,omitzero"`
	// LastAlert is when this episode last alerted (for the cooldown).
	LastAlert time.Time `json:"last_alert,omitzero"`
	// LastSeverity is the severity last alerted, so an escalation (warn to
	// error) alerts at once instead of waiting out the cooldown.
	LastSeverity Severity `json:"last_severity,omitempty"`
	// LastOK is the last time the check passed.
	LastOK time.Time `json:"last_ok,omitzero"`
}

// Open reports whether the channel is currently failing.
func (c *Channel) Open() bool { return c.Consecutive > 0 }

// Notice is one alert to deliver, with what the sinks need beyond the Force
// Flow payload.
type Notice struct {
	Probe    string   `json:"probe"`
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Message  string   `json:"message"`
	// Resolved marks a recovery notice.
	Resolved bool `json:"resolved,omitempty"`
	// StartsAt is when the failure episode began; At when this notice was made.
	StartsAt time.Time `json:"starts_at,omitzero"`
	At       time.Time `json:"at"`
	// ForceChannels is passed through to Force Flow when set.
	ForceChannels []string `json:"force_channels,omitempty"`
}

// Key is the notice's stable id: the same for every attempt to deliver it,
// on this tick or from the outbox on a later one, and different for any
// other notice (it covers when the notice was made). Sinks send it as an
// idempotency key so a notifier can drop a repeat it already has.
func (n Notice) Key() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%t\x00%s\x00%s\x00%d\x00%d",
		n.Probe, n.Check, n.Severity, n.Resolved, n.Title, n.Message, n.At.UnixNano(), n.StartsAt.UnixNano())
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Source is the Force Flow source name for the probe: council-<probe>.
func (n Notice) Source() string { return "council-" + n.Probe }

// Engine applies per-channel hysteresis, cooldown and recovery to check
// results. It holds no I/O; the caller persists Channels in the probe's state
// file and hands the returned notices to a Dispatcher.
type Engine struct {
	Probe    string
	Channels map[string]*Channel
	// Policies overrides Default per check.
	Policies map[string]Policy
	Default  Policy
	Now      func() time.Time
}

// NewEngine returns an engine over channels (which may be nil).
func NewEngine(probe string, channels map[string]*Channel, def Policy) *Engine {
	if channels == nil {
		channels = map[string]*Channel{}
	}
	return &Engine{Probe: probe, Channels: channels, Policies: map[string]Policy{}, Default: def, Now: time.Now}
}

// PolicyFor returns the policy of a check. A per-subject channel such as
// "drifted:/path/to/file" falls back to the policy of its check ("drifted")
// before the default.
func (e *Engine) PolicyFor(check string) Policy {
	p, ok := e.Policies[check]
	if !ok {
		if base, _, cut := strings.Cut(check, ":"); cut {
			p, ok = e.Policies[base]
		}
	}
	if !ok {
		p = e.Default
	}
	if p.Threshold < 1 {
		p.Threshold = 1
	}
	return p
}

func (e *Engine) channel(check string) *Channel {
	c := e.Channels[check]
	if c == nil {
		c = &Channel{}
		e.Channels[check] = c
	}
	return c
}

// Unsent undoes the bookkeeping of a failure notice that could neither be
// delivered nor saved, so the channel alerts again on its next failure
// instead of waiting out a cooldown for an alert nobody received.
func (e *Engine) Unsent(n Notice) {
	c := e.Channels[n.Check]
	if c == nil || n.Resolved {
		return
	}
	c.Firing, c.LastAlert, c.LastSeverity = false, time.Time{}, ""
}

// Forget drops a channel's state entirely (its subject is no longer
// checked). Call Pass first if a recovery should be announced.
func (e *Engine) Forget(check string) { delete(e.Channels, check) }

// Fail records a failure of check and returns the notice to send, or nil when
// hysteresis or the cooldown holds it back.
func (e *Engine) Fail(check string, sev Severity, summary string) *Notice {
	now := e.Now()
	c := e.channel(check)
	if c.Consecutive == 0 {
		c.Since = now
	}
	c.Consecutive++
	c.Severity, c.Summary = sev, summary
	p := e.PolicyFor(check)
	if c.Consecutive < p.Threshold {
		return nil
	}
	escalated := c.Firing && sev.Rank() > c.LastSeverity.Rank()
	if c.Firing && !escalated && now.Sub(c.LastAlert) < p.Cooldown {
		return nil
	}
	c.Firing = true
	c.LastAlert = now
	c.LastSeverity = sev
	return &Notice{
		Probe: e.Probe, Check: check, Severity: sev,
		Title:    e.title(check),
		Message:  summary,
		StartsAt: c.Since, At: now,
	}
}

// Pass records a pass of check. If the channel had alerted, it returns the
// one info "recovered" notice; otherwise nil.
func (e *Engine) Pass(check string) *Notice {
	now := e.Now()
	c := e.channel(check)
	wasFiring, since, summary := c.Firing, c.Since, c.Summary
	*c = Channel{LastOK: now}
	if !wasFiring {
		return nil
	}
	return &Notice{
		Probe: e.Probe, Check: check, Severity: Info, Resolved: true,
		Title:    e.title(check) + " recovered",
		Message:  fmt.Sprintf("%s passes again after %s (was: %s)", check, now.Sub(since).Round(time.Second), summary),
		StartsAt: since, At: now,
	}
}

// title names the check so each failure mode is its own Force Flow channel
// (Force Flow dedups and rate-limits by source+title+message).
func (e *Engine) title(check string) string {
	return fmt.Sprintf("council-%s: %s", e.Probe, check)
}
