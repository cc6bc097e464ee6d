// Package status is council-status: the probe suite at a glance. It reads
// every probe's state file, alert outbox and log tail, and the fallback lock,
// and reduces them to one Report: per probe the last result, the age of the
// last tick (stale past 3x the probe's interval), the open alert channels and
// the outbox depth. Its exit code is the worst state, so council-status is
// itself a Nagios-style check.
//
// It only reads: a corrupt file is shown as UNKNOWN with the reason and is
// left where it is (the probe that owns it resets it on its next tick).
package status

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/paths"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/server/backend/detection"
)

// Exit codes and the words for them (the probes' Nagios convention).
const (
	ExitOK       = 0
	ExitWarning  = 1
	ExitCritical = 2
	ExitUnknown  = 3
)

var resultNames = map[int]string{ExitOK: "OK", ExitWarning: "WARNING", ExitCritical: "CRITICAL", ExitUnknown: "UNKNOWN"}

// FutureSkew is how far in the future a last tick may be before the probe
// counts as stale.
const FutureSkew = time.Minute

// ResultName is the Nagios word for an exit code.
func ResultName(code int) string {
	if s, ok := resultNames[code]; ok {
		return s
	}
	return "UNKNOWN"
}

// rank orders codes by badness as the probes do: OK < WARNING < UNKNOWN <
// CRITICAL (a failure that is known is worse than not knowing).
func rank(code int) int {
	switch code {
	case ExitOK:
		return 0
	case ExitWarning:
		return 1
	case ExitCritical:
		return 3
	}
	return 2
}

// worse returns the worse of two codes.
func worse(a, b int) int {
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// DefaultProbes are the suite's probes (pkg/core/suite), expected on every
// council host.
var DefaultProbes = suite.Names(suite.Probes)

// StaleFactor: a probe whose last tick is older than StaleFactor x its
// interval is stale.
const StaleFactor = 3

// Report is council-status's whole answer; `council-status --json` prints it
// and it decodes back into the same value. All times are UTC.
type Report struct {
	// GeneratedAt is when the files were read.
	GeneratedAt time.Time `json:"generated_at"`
	Host        string    `json:"host,omitempty"`
	StateDir    string    `json:"state_dir"`
	LogDir      string    `json:"log_dir"`
	// Exit is the worst state (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and
	// Result its word; council-status exits with it.
	Exit     int           `json:"exit"`
	Result   string        `json:"result"`
	Probes   []ProbeStatus `json:"probes"`
	Fallback Fallback      `json:"fallback"`
	// Backend is the server the network probes last detected behind the
	// council URL (absent until one has run with --backend auto).
	Backend *detection.Cached `json:"backend,omitempty"`
	// ServiceManager is the service manager the probes last asked
	// ("launchd", "systemd user"), as their state files record it; the
	// guardian's wins when they differ.
	ServiceManager string `json:"service_manager,omitempty"`
}

// ProbeStatus is one probe's row.
type ProbeStatus struct {
	Name string `json:"name"`
	// Exit and Result are this row's verdict: the last tick's exit code,
	// raised to UNKNOWN when the probe is stale, never ran or its state is
	// unreadable, and to at least WARNING when alerts wait in its outbox.
	Exit   int    `json:"exit"`
	Result string `json:"result"`
	// Reason says why the verdict differs from the last tick's result.
	Reason string `json:"reason,omitempty"`
	// LastExit and LastSummary are how the last completed tick ended.
	LastExit    *int   `json:"last_exit,omitempty"`
	LastResult  string `json:"last_result,omitempty"`
	LastSummary string `json:"last_summary,omitempty"`
	// LastTick is when that tick completed; AgeSeconds how long ago.
	LastTick        time.Time `json:"last_tick,omitzero"`
	AgeSeconds      float64   `json:"age_seconds,omitempty"`
	IntervalSeconds int       `json:"interval_seconds,omitempty"`
	Stale           bool      `json:"stale,omitempty"`
	NeverRun        bool      `json:"never_run,omitempty"`
	// Channels are the open alert channels, worst first.
	Channels []ChannelStatus `json:"channels,omitempty"`
	// OutboxDepth is how many alerts wait for an unreachable sink.
	OutboxDepth int    `json:"outbox_depth"`
	OutboxError string `json:"outbox_error,omitempty"`
	// LastEvent is the last line of the probe's log; LastProblem the last
	// warn-or-worse event in its tail (tick_done excluded).
	LastEvent   *Event `json:"last_event,omitempty"`
	LastProblem *Event `json:"last_problem,omitempty"`
	LogError    string `json:"log_error,omitempty"`
	StateFile   string `json:"state_file"`
	// ServiceManager is the service manager the probe last asked.
	ServiceManager string `json:"service_manager,omitempty"`
}

// ChannelStatus is one open (failing) alert channel.
type ChannelStatus struct {
	Check    string `json:"check"`
	Severity string `json:"severity,omitempty"`
	Summary  string `json:"summary,omitempty"`
	// Firing is true once the failure crossed the channel's threshold and
	// alerted; Consecutive counts failures in a row.
	Firing      bool      `json:"firing"`
	Consecutive int       `json:"consecutive"`
	Since       time.Time `json:"since,omitzero"`
	LastAlert   time.Time `json:"last_alert,omitzero"`
}

// Event is one line of a probe's JSON-lines log, reduced.
type Event struct {
	TS     time.Time `json:"ts,omitzero"`
	Level  string    `json:"level,omitempty"`
	Event  string    `json:"event"`
	Check  string    `json:"check,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Fallback is the fallback lock: while it exists the fallback server serves
// and an operator must restore the primary.
type Fallback struct {
	Path   string    `json:"path"`
	Active bool      `json:"active"`
	Who    string    `json:"who,omitempty"`
	When   time.Time `json:"when,omitzero"`
	Why    string    `json:"why,omitempty"`
	PID    int       `json:"pid,omitempty"`
	// Error is set when the lock exists but cannot be read; it still counts
	// as active.
	Error string `json:"error,omitempty"`
}

// Config says where to look.
type Config struct {
	StateDir     string
	LogDir       string
	FallbackLock string
	// Probes are expected on this host: one missing its state file is shown
	// as never run (UNKNOWN). Other probes' state files found in StateDir
	// are shown too.
	Probes []string
	// Intervals overrides the suite's intervals (pkg/core/suite), which
	// apply when a state file does not record its own.
	Intervals map[string]time.Duration
	Host      string
	Now       func() time.Time
}

// Collect reads every probe's files and builds the report. It never fails:
// whatever cannot be read becomes an UNKNOWN row with the reason.
func Collect(cfg Config) Report {
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	at := now().UTC().Round(0)
	r := Report{GeneratedAt: at, Host: cfg.Host, StateDir: cfg.StateDir, LogDir: cfg.LogDir}
	for _, name := range probeNames(cfg) {
		r.Probes = append(r.Probes, collectProbe(cfg, name, at))
	}
	for _, p := range r.Probes {
		if p.ServiceManager != "" && (r.ServiceManager == "" || p.Name == "guardian") {
			r.ServiceManager = p.ServiceManager
		}
	}
	r.Fallback = readFallback(cfg.FallbackLock)
	if b, err := detection.LoadCache(filepath.Join(cfg.StateDir, detection.CacheFile)); err == nil {
		r.Backend = &b
	}
	r.Exit = ExitOK
	for _, p := range r.Probes {
		r.Exit = worse(r.Exit, p.Exit)
	}
	if r.Fallback.Active {
		// The council is up on the fallback: degraded until a human
		// restores the primary.
		r.Exit = worse(r.Exit, ExitWarning)
	}
	r.Result = ResultName(r.Exit)
	return r
}

// probeNames is the expected probes, then any other probe that left a valid
// state file in the state dir, in name order.
func probeNames(cfg Config) []string {
	names := append([]string(nil), cfg.Probes...)
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	matches, _ := filepath.Glob(filepath.Join(cfg.StateDir, "council-*.json"))
	var extra []string
	for _, m := range matches {
		base := filepath.Base(m)
		if strings.HasSuffix(base, ".outbox.json") {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(base, "council-"), ".json")
		if seen[name] {
			continue
		}
		// Only files that are a probe's state: other council-*.json files
		// (caches, manifests) are none of our business.
		f, err := readState(m)
		if err != nil || f.Probe != name {
			continue
		}
		seen[name] = true
		extra = append(extra, name)
	}
	sort.Strings(extra)
	return append(names, extra...)
}

// readState reads a probe's state file: bounded, not through a symlink, and
// never blocking on a FIFO (council-status is what an operator runs when
// something is wrong).
func readState(path string) (*state.File, error) {
	data, err := atomicfile.ReadFile(path, state.MaxSize)
	if err != nil {
		return nil, err
	}
	var f state.File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("corrupt state file: %w", err)
	}
	if f.Version != state.Version {
		return nil, fmt.Errorf("corrupt state file: unsupported version %d", f.Version)
	}
	return &f, nil
}

// interval is the probe's interval: the one its state file records
// (recorded, 0 when none or out of range), else the configured one, else
// the registry's.
func (cfg Config) interval(name string, recorded time.Duration) time.Duration {
	if recorded > 0 {
		return recorded
	}
	if d, ok := cfg.Intervals[name]; ok {
		return d
	}
	if p, ok := suite.Lookup(name); ok {
		return p.Interval()
	}
	return 0
}

func collectProbe(cfg Config, name string, now time.Time) ProbeStatus {
	p := ProbeStatus{Name: name, StateFile: paths.StateFile(cfg.StateDir, name)}
	p.OutboxDepth, p.OutboxError = outboxDepth(paths.OutboxFile(cfg.StateDir, name))
	if cfg.LogDir != "" {
		p.LastEvent, p.LastProblem, p.LogError = logTail(paths.ProbeLog(cfg.LogDir, name))
	}
	interval := cfg.interval(name, 0)

	f, err := readState(p.StateFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.NeverRun = true
		p.Exit, p.Reason = ExitUnknown, "never run: no state file"
	case err != nil:
		p.Exit, p.Reason = ExitUnknown, err.Error()
	case f.LastTick.IsZero():
		p.NeverRun = true
		p.Exit, p.Reason = ExitUnknown, "no completed tick yet"
	default:
		recorded, _ := f.Interval()
		interval = cfg.interval(name, recorded)
		p.ServiceManager = f.ServiceManager
		last := f.LastExit
		p.LastExit, p.LastResult, p.LastSummary = &last, ResultName(last), f.LastSummary
		p.LastTick = f.LastTick.UTC()
		age := now.Sub(p.LastTick)
		p.AgeSeconds = age.Seconds()
		p.Exit = last
		if _, ok := resultNames[last]; !ok {
			p.Exit, p.Reason = ExitUnknown, fmt.Sprintf("last tick exited %d, not a Nagios code", last)
		}
		if age < -FutureSkew {
			// A future tick would look fresh forever; say so instead.
			p.Stale = true
			p.Exit = ExitUnknown
			p.Reason = fmt.Sprintf("last tick is %s in the future (clock stepped back, or a bad state file)", FormatAge(-age))
		} else if interval > 0 && age > StaleFactor*interval {
			p.Stale = true
			p.Exit = ExitUnknown
			p.Reason = fmt.Sprintf("stale: last tick %s ago, more than %dx its %s interval", FormatAge(age), StaleFactor, FormatAge(interval))
		}
		p.Channels = openChannels(f.Channels)
	}
	p.IntervalSeconds = int(interval / time.Second)
	if p.OutboxDepth > 0 || p.OutboxError != "" {
		// Alerts that have not arrived (or may not) are a degraded alert
		// path, whatever the probe last found.
		before := p.Exit
		p.Exit = worse(p.Exit, ExitWarning)
		if p.Exit != before && p.Reason == "" {
			p.Reason = fmt.Sprintf("%d alert(s) undelivered in the outbox", p.OutboxDepth)
			if p.OutboxError != "" {
				p.Reason = p.OutboxError
			}
		}
	}
	p.Result = ResultName(p.Exit)
	return p
}

// openChannels lists failing channels, firing and worst first.
func openChannels(chs map[string]*alert.Channel) []ChannelStatus {
	var out []ChannelStatus
	for check, c := range chs {
		if c == nil || !c.Open() {
			continue
		}
		out = append(out, ChannelStatus{
			Check: check, Severity: string(c.Severity), Summary: c.Summary, Firing: c.Firing,
			Consecutive: c.Consecutive, Since: utc(c.Since), LastAlert: utc(c.LastAlert),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Firing != b.Firing {
			return a.Firing
		}
		if ra, rb := alert.Severity(a.Severity).Rank(), alert.Severity(b.Severity).Rank(); ra != rb {
			return ra > rb
		}
		return a.Check < b.Check
	})
	return out
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

// outboxDepth reads the outbox without touching it (alert.LoadOutbox would
// move a corrupt file aside; that is the owning probe's job).
func outboxDepth(path string) (int, string) {
	data, err := atomicfile.ReadFile(path, alert.MaxOutboxBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ""
	}
	if err != nil {
		return 0, err.Error()
	}
	var ob alert.Outbox
	if err := json.Unmarshal(data, &ob); err != nil {
		return 0, fmt.Sprintf("corrupt outbox %s: %v", path, err)
	}
	return ob.Len(), ""
}

// tailBytes bounds how much of a log is read: enough for dozens of events,
// constant however large the log grew.
const tailBytes = 64 << 10

// logTail returns the last event and the last warn-or-worse event in the
// tail of a JSON-lines log.
func logTail(path string) (last, problem *Event, errMsg string) {
	f, err := atomicfile.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, ""
	}
	if err != nil {
		return nil, nil, err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err.Error()
	}
	off := fi.Size() - tailBytes
	if off < 0 {
		off = 0
	}
	buf, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return nil, nil, err.Error()
	}
	if off > 0 {
		// Drop the partial first line.
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(buf))
	sc.Buffer(make([]byte, 0, 64<<10), tailBytes)
	for sc.Scan() {
		ev, ok := parseEvent(sc.Bytes())
		if !ok {
			continue
		}
		last = ev
		if ev.Event != "tick_done" && (ev.Level == "warn" || ev.Level == "error" || ev.Level == "critical") {
			problem = ev
		}
	}
	return last, problem, ""
}

func parseEvent(line []byte) (*Event, bool) {
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, false
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	ev := &Event{Level: str("level"), Event: str("event"), Check: str("check")}
	if ev.Event == "" {
		return nil, false
	}
	if ts, err := time.Parse(time.RFC3339Nano, str("ts")); err == nil {
		ev.TS = ts.UTC()
	}
	for _, k := range []string{"detail", "error", "reason", "summary"} {
		if s := str(k); s != "" {
			ev.Detail = s
			break
		}
	}
	return ev, true
}

func readFallback(path string) Fallback {
	fb := Fallback{Path: path}
	if path == "" {
		return fb
	}
	l, err := service.ReadFallbackLock(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fb
	case l == nil:
		// Exists but unreadable (permissions): count it as present.
		fb.Active, fb.Error = true, err.Error()
		return fb
	}
	fb.Active = true
	if err != nil {
		fb.Error = err.Error()
	}
	fb.Who, fb.Why, fb.PID, fb.When = l.Who, l.Why, l.PID, utc(l.When)
	return fb
}

// FormatAge renders a duration compactly: 45s, 3m12s, 2h05m, 3d04h.
func FormatAge(d time.Duration) string {
	if d < 0 {
		return "-" + FormatAge(-d)
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		m := int(d.Minutes())
		if s := int(d.Seconds()) % 60; s != 0 {
			return fmt.Sprintf("%dm%02ds", m, s)
		}
		return fmt.Sprintf("%dm", m)
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; m != 0 {
			return fmt.Sprintf("%dh%02dm", h, m)
		}
		return fmt.Sprintf("%dh", h)
	}
	days := int(d.Hours()) / 24
	if h := int(d.Hours()) % 24; h != 0 {
		return fmt.Sprintf("%dd%02dh", days, h)
	}
	return fmt.Sprintf("%dd", days)
}
