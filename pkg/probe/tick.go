package probe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/alert/deliver"
	"github.com/sanctum/council-probes/pkg/core/eventlog"
	"github.com/sanctum/council-probes/pkg/core/metrics"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/host/tilde"
	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// Status is a check's outcome in one tick.
type Status int

// Statuses.
const (
	StatusOK Status = iota
	StatusFail
	StatusUnknown
)

// Result is one check's outcome, kept for the summary, exit code and metrics.
type Result struct {
	Check    string
	Status   Status
	Severity alert.Severity
	Summary  string
}

// Perf is one plugin perfdata value.
type Perf struct {
	Label string
	Value float64
	Unit  string
}

// Tick is one run of a probe: its configuration, logger, state and transport,
// and the place its checks report to.
type Tick struct {
	Probe  *Probe
	C      *cli.Context
	Common Common
	// Log writes contract events; it already carries probe (and transport).
	Log *slog.Logger
	// State is the probe's persistent state; Tick saves it at the end.
	State     *state.File
	StatePath string
	// Client is the resolved council transport (network probes only; nil
	// in a ServerOptional probe whose transport could not be resolved).
	Client *transport.Client
	// Backend is the server behind Client and how it was chosen; Server
	// asks it (network probes only; see backend.go).
	Backend backend.Resolved
	Server  backend.Adapter
	// ServerMetrics is what the server last reported about its load
	// (SetServerMetrics); it goes to the textfile.
	ServerMetrics backend.Metrics
	// Out is stdout: dry-run commands and the human summary go here.
	Out   io.Writer
	Now   func() time.Time
	Start time.Time

	engine    *alert.Engine
	dispatch  *deliver.Dispatcher
	results   []Result
	notices   []alert.Notice
	perf      []Perf
	gauges    []metrics.Gauge
	exit      int
	exitWhy   string
	okSummary string
	restarts  int
	// managerKind names the service manager the tick asked ("launchd",
	// "systemd user"); empty when it asked none.
	managerKind string
	// startCPU is the process's CPU time when the tick began (tick_done
	// reports it beside the total).
	startCPU time.Duration

	// stateUnusable: the state path is not a regular file (or unreadable);
	// nothing is saved over it. stateNotice is the state alert, delivered
	// directly (the outbox is in the same directory).
	stateUnusable bool
	stateNotice   *alert.Notice
}

// Pass reports that check passed: logs event at info and closes the channel,
// queueing the one "recovered" alert if it had alerted.
func (t *Tick) Pass(check, event string, attrs ...any) {
	t.results = append(t.results, Result{Check: check, Status: StatusOK})
	t.Log.Info(event, append([]any{"check", check}, attrs...)...)
	t.Clear(check)
}

// PassQuiet records that check passed without logging an event of its own:
// for a stage that evidently passed because a later stage was reached (the
// canary's unreachable and hang when an answer came back). It counts in the
// exit code and metrics like Pass, and closes the channel.
func (t *Tick) PassQuiet(check string) {
	t.results = append(t.results, Result{Check: check, Status: StatusOK})
	t.Clear(check)
}

// Clear closes check's channel without logging a check event (for checks
// that are implicit, such as a transport that resolved fine).
func (t *Tick) Clear(check string) {
	if n := t.engine.Pass(check); n != nil {
		t.Log.Info("recovered", "check", check, "detail", n.Message)
		t.notices = append(t.notices, *n)
	}
}

// Fail reports that check failed at sev with a one-line human summary (which
// becomes the alert message): logs event at sev, and queues an alert when the
// channel's hysteresis and cooldown allow. Not inlined: the probes call it
// from dozens of places, and each inlined copy carries the append (the
// binaries are held to size budgets).
//
//go:noinline
func (t *Tick) Fail(check, event string, sev alert.Severity, summary string, attrs ...any) {
	t.results = append(t.results, Result{Check: check, Status: StatusFail, Severity: sev, Summary: summary})
	t.report(check, event, sev, summary, attrs)
}

// Unknown reports that check could not be determined (bad config, partial
// cert set): the tick exits 3, and the channel alerts at error. Not
// inlined, as Fail.
//
//go:noinline
func (t *Tick) Unknown(check, event, summary string, attrs ...any) {
	t.results = append(t.results, Result{Check: check, Status: StatusUnknown, Severity: alert.Error, Summary: summary})
	t.report(check, event, alert.Error, summary, attrs)
}

func (t *Tick) report(check, event string, sev alert.Severity, summary string, attrs []any) {
	c := t.engine.Channels[check]
	consecutive := 1
	if c != nil {
		consecutive = c.Consecutive + 1
	}
	t.Log.Log(context.Background(), eventlog.Level(string(sev)), event,
		append([]any{"check", check, "detail", summary, "consecutive", consecutive}, attrs...)...)
	if n := t.engine.Fail(check, sev, summary); n != nil {
		t.notices = append(t.notices, *n)
	}
}

// Notify queues a notice outside the hysteresis engine (for one-off events
// such as "fallback activated", which is news, not a failing state).
func (t *Tick) Notify(check string, sev alert.Severity, message string) {
	t.notices = append(t.notices, alert.Notice{
		Probe: t.Probe.Name, Check: check, Severity: sev,
		Title: fmt.Sprintf("council-%s: %s", t.Probe.Name, check), Message: message, At: t.Now(), StartsAt: t.Now(),
	})
}

// SetPolicy sets check's hysteresis and cooldown for this tick, for policies
// that follow a probe's own flags (guardian alerts when it restarts).
func (t *Tick) SetPolicy(check string, p alert.Policy) { t.engine.Policies[check] = p }

// Forget drops check's channel from the state (its subject is no longer
// checked: a file removed from a map, an agent no longer expected). Clear it
// first if it should announce a recovery.
func (t *Tick) Forget(check string) { t.engine.Forget(check) }

// ChannelNames lists every channel the state holds, sorted.
func (t *Tick) ChannelNames() []string {
	names := make([]string, 0, len(t.engine.Channels))
	for n := range t.engine.Channels {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Channel returns check's persisted channel state (nil if never reported).
func (t *Tick) Channel(check string) *alert.Channel { return t.engine.Channels[check] }

// SetExit raises the tick's exit code to at least code (by severity order
// OK < WARNING < UNKNOWN < CRITICAL), e.g. CRITICAL when a human is needed.
func (t *Tick) SetExit(code int, why string) {
	if rank(code) > rank(t.exit) {
		t.exit, t.exitWhy = code, why
	}
}

// OKSummary sets the status line text of a healthy tick.
func (t *Tick) OKSummary(s string) { t.okSummary = s }

// Perf adds a perfdata value to the plugin status line.
func (t *Tick) Perf(label string, value float64, unit string) {
	t.perf = append(t.perf, Perf{label, value, unit})
}

// Gauge adds a probe-specific series to the metrics file, e.g.
// t.Gauge("council_pace_ttft_seconds", "Time to first token…", 0.41, "model", id).
func (t *Tick) Gauge(name, help string, value float64, labels ...string) {
	t.gauges = append(t.gauges, metrics.Gauge{Name: name, Help: help, Labels: labels, Value: value})
}

// SetRestarts records the probe's restart count for the metrics file.
func (t *Tick) SetRestarts(n int) { t.restarts = n }

// DryRun reports whether remediation and delivery must only be printed.
func (t *Tick) DryRun() bool { return t.Common.DryRun }

// Results returns the checks reported so far.
func (t *Tick) Results() []Result { return append([]Result(nil), t.results...) }

// Notices returns the alerts the tick has queued so far: its checks'
// (as the alert engine's hysteresis and cooldown allow) and Notify's.
// They are delivered, or spooled, when the tick ends.
func (t *Tick) Notices() []alert.Notice { return append([]alert.Notice(nil), t.notices...) }

// Summary is the status line's text as it stands: the failing checks
// with their reasons, else the OK summary.
func (t *Tick) Summary() string { return t.summary() }

func rank(code int) int {
	switch code {
	case ExitWarning:
		return 1
	case ExitUnknown:
		return 2
	case ExitCritical:
		return 3
	}
	return 0
}

// ExitCode is the worst of the checks' outcomes and any SetExit.
func (t *Tick) ExitCode() int {
	code := t.exit
	for _, r := range t.results {
		c := ExitOK
		switch {
		case r.Status == StatusUnknown:
			c = ExitUnknown
		case r.Status == StatusFail && r.Severity.Rank() >= alert.Error.Rank():
			c = ExitCritical
		case r.Status == StatusFail && r.Severity == alert.Warn:
			c = ExitWarning
		}
		if rank(c) > rank(code) {
			code = c
		}
	}
	return code
}

var codeNames = map[int]string{ExitOK: "OK", ExitWarning: "WARNING", ExitCritical: "CRITICAL", ExitUnknown: "UNKNOWN"}

// The status line's text is bounded: monitoring systems keep a few hundred
// bytes of plugin output, and a line that wraps three times is not read at
// 3 a.m. The full summaries are in the log, the alert and the state.
const (
	// statusTextMax bounds the text before the perfdata, in bytes.
	statusTextMax = 300
	// Each failing check ("check: reason") gets an equal share of it,
	// within these bounds: enough for one check's whole message and its
	// hint ("run: chmod 600 ..."), short enough that a second failing
	// check is still named.
	entryMin, entryMax = 100, 200
)

// summary is the status line text: each failing check with its reason cut
// short ("check: reason…; other: reason; +2 more"), or the OK summary.
// Paths under $HOME are written with ~.
func (t *Tick) summary() string {
	var bad []string
	for _, r := range t.results {
		if r.Status != StatusOK && (r.Status == StatusUnknown || r.Severity.Rank() >= alert.Warn.Rank()) {
			bad = append(bad, oneLine(tilde.Text(r.Check+": "+r.Summary, t.Common.Home)))
		}
	}
	if t.exitWhy != "" && len(bad) == 0 {
		bad = append(bad, oneLine(tilde.Text(t.exitWhy, t.Common.Home)))
	}
	if len(bad) > 0 {
		share := min(max(statusTextMax/len(bad), entryMin), entryMax)
		for i := range bad {
			bad[i] = text.Cut(bad[i], share)
		}
		return joinBounded(bad, statusTextMax)
	}
	if t.okSummary != "" {
		return text.Cut(oneLine(tilde.Text(t.okSummary, t.Common.Home)), statusTextMax)
	}
	return fmt.Sprintf("%d check(s) ok", len(t.results))
}

// joinBounded joins parts with "; " within max bytes; the parts that do not
// fit are counted ("+2 more"), so the line still says how many checks fail.
func joinBounded(parts []string, max int) string {
	var b strings.Builder
	for i, p := range parts {
		more := ""
		if rest := len(parts) - i - 1; rest > 0 {
			more = fmt.Sprintf("; +%d more", rest)
		}
		sep := ""
		if i > 0 {
			sep = "; "
		}
		if b.Len()+len(sep)+len(p)+len(more) > max && i > 0 {
			fmt.Fprintf(&b, "; +%d more", len(parts)-i)
			break
		}
		b.WriteString(sep + p)
	}
	return text.Cut(b.String(), max)
}

// oneLine keeps the status line a single line of text: Nagios reads the
// first line, '|' would start perfdata, and a control or format character
// (an escape sequence or a bidi override a server put in an error) must
// not reach a terminal (text.Clean).
func oneLine(s string) string { return strings.ReplaceAll(text.Clean(s), "|", "/") }

// StatusLine renders the plugin status line with perfdata, e.g.
// "COUNCIL GUARDIAN OK - 1 model (mtls) | duration_ms=25ms;;;0".
func (t *Tick) StatusLine(code int, summary string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "COUNCIL %s %s - %s", t.Probe.upper(), codeNames[code], summary)
	if t.managerKind != "" {
		fmt.Fprintf(&b, " [%s]", t.managerKind)
	}
	perf := append([]Perf{{"duration_ms", float64(t.Now().Sub(t.Start).Milliseconds()), "ms"}}, t.perf...)
	b.WriteString(" |")
	for _, p := range perf {
		fmt.Fprintf(&b, " %s=%g%s;;;0", p.Label, p.Value, p.Unit)
	}
	return b.String()
}

// printHuman writes the coloured summary (on a terminal) and, last, the
// plugin status line.
func (t *Tick) printHuman(code int, summary string) {
	if f, ok := t.Out.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		sorted := append([]Result(nil), t.results...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Status > sorted[j].Status })
		for _, r := range sorted {
			mark, c := "✓", color.New(color.FgGreen)
			switch {
			case r.Status == StatusUnknown:
				mark, c = "?", color.New(color.FgMagenta)
			case r.Status == StatusFail && r.Severity.Rank() >= alert.Error.Rank():
				mark, c = "✗", color.New(color.FgRed, color.Bold)
			case r.Status == StatusFail && r.Severity == alert.Warn:
				mark, c = "!", color.New(color.FgYellow)
			case r.Status == StatusFail:
				mark, c = "·", color.New(color.FgCyan)
			}
			line := fmt.Sprintf("%s %-20s", mark, r.Check)
			if r.Summary != "" {
				line += " " + r.Summary
			}
			c.Fprintln(t.Out, line)
		}
	}
	fmt.Fprintln(t.Out, t.StatusLine(code, summary))
}
