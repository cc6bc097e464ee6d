package guardian

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/proccpu"
	"github.com/sanctum/council-probes/pkg/server/openai"
)

// CheckWedged is the channel of a primary whose /v1/models is green while
// its chat hangs and its CPU is idle: deadlocked, not working.
const CheckWedged = "wedged"

// Defaults of the wedged check.
const (
	defaultWedgedAfter    = 2
	defaultCPUWindow      = 10 * time.Second
	defaultIdleCPU        = 0.02 // of one core
	defaultMaxBusy        = 15 * time.Minute
	defaultCanaryInterval = 10 * time.Minute
	// verifyChatMaxTokens is the size of the chat that verifies a heal:
	// any answer at all proves chat works again.
	verifyChatMaxTokens = 8
)

// Reasons of a wedged restart, in its events and alert.
const (
	reasonIdle    = "idle"    // hang + idle CPU: deadlocked
	reasonRunaway = "runaway" // hang + busy (CPU or requests) for longer than --max-busy
)

// canaryHangChecks are the canary channels that mean "chat does not
// answer".
var canaryHangChecks = []string{suite.CheckHang, suite.CheckStreamStall}

// busySinceKey holds when the current hang-with-busy-CPU episode began.
const busySinceKey = "wedged_busy_since"

// hangEvidence is what the canary's state says about chat.
type hangEvidence struct {
	Check       string    // the canary channel that is failing: hang or stream_stall
	Consecutive int       // its consecutive failures
	LastTick    time.Time // when the canary last completed a tick
	Since       time.Time // when the failure episode began
}

// errStaleCanary means the canary's state is too old to count.
var errStaleCanary = errors.New("canary state is stale")

// readHangEvidence reads the canary's state file without changing it (a
// corrupt file is an error, never renamed: it is the canary's) and returns
// its hang or stream_stall channel when that has failed at least after
// times in a row. ok is false when chat is not hanging by that measure.
// A state whose last tick is older than 3 canary intervals (the state's
// own interval, else interval), or dated after now, is errStaleCanary.
func readHangEvidence(path string, after int, interval time.Duration, now time.Time) (hangEvidence, bool, error) {
	// Bounded, not through a symlink, and never blocking on a FIFO: a
	// planted FIFO must not hang the guardian's tick.
	b, err := atomicfile.ReadFile(path, state.MaxSize)
	if err != nil {
		return hangEvidence{}, false, fmt.Errorf("read canary state: %w", err)
	}
	var st state.File
	if err := json.Unmarshal(b, &st); err != nil {
		return hangEvidence{}, false, fmt.Errorf("read canary state %s: %w", path, err)
	}
	if d, ok := st.Interval(); ok {
		interval = d
	}
	age := now.Sub(st.LastTick)
	if st.LastTick.IsZero() || age > 3*interval || age < -futureSkew {
		return hangEvidence{LastTick: st.LastTick}, false,
			fmt.Errorf("%w: last tick %s, more than 3 x %s before now (or in the future)", errStaleCanary, st.LastTick.UTC().Format(time.RFC3339), interval)
	}
	best := hangEvidence{LastTick: st.LastTick}
	for _, name := range canaryHangChecks {
		if c := st.Channels[name]; c != nil && c.Consecutive > best.Consecutive {
			best.Check, best.Consecutive, best.Since = name, c.Consecutive, c.Since
		}
	}
	return best, after > 0 && best.Consecutive >= after, nil
}

// checkWedged runs when /v1/models passed: if the canary says chat hangs,
// the primary's CPU, or the server's own metrics where it exports them
// (requestsBusy), decide between wedged (restart) and working (wait).
func (g *guardian) checkWedged(ctx context.Context, rl restartDecision) error {
	t, w := g.t, g.s.Wedged
	if w.After == 0 {
		return nil
	}
	ev, hanging := g.hangEvidence()
	if !hanging {
		return nil
	}
	info := g.primaryInfo(ctx)
	if info == nil || !info.Running() {
		// Gone or not found: the unreachable path's business.
		t.Log.Info("wedged_skip", "check", CheckWedged, "canary_check", ev.Check, "reason", "the service manager runs no primary process")
		return nil
	}
	// A primary still loading is not judged: its chat may well hang.
	if pid, age, starting := g.startingUp(ctx, g.s.StartupGrace); starting {
		t.Log.Info("probe_skip_starting", "check", CheckWedged, "pid", pid, "age_ms", age.Milliseconds(),
			"grace_ms", g.s.StartupGrace.Milliseconds(), "canary_check", ev.Check,
			"reason", fmt.Sprintf("the primary (pid %d) started %s ago, inside the %s start-up grace: not judged", pid, age.Round(time.Second), g.s.StartupGrace))
		return nil
	}
	sample, ok := g.sampleBusy(ctx, info.PID)
	if !ok {
		return ctx.Err()
	}
	v, err := g.judgeWedged(ev, sample)
	if err != nil || v.wait {
		return err
	}
	// Wedged (or a runaway): the primary is restarted, as for unreachable.
	cause := g.causeFrom(ctx, info, g.causeSince(), g.primaryLogTail(ctx))
	t.Fail(CheckWedged, "wedged", alert.Error, withCause(v.msg, cause), append(append(v.attrs, "reason", v.reason), cause.attrs()...)...)
	if err := g.restartFor(ctx, rl, ev.Consecutive, restartWhy{check: CheckWedged, reason: v.reason, verify: g.verifyChat, cause: cause}); err != nil {
		return err
	}
	if c := t.Channel(CheckWedged); c == nil || !c.Open() {
		// Verified: the busy episode is over with the process it timed.
		delete(t.State.Data, busySinceKey)
	}
	return nil
}

// hangEvidence reads the canary's state: hanging is true when chat has
// hung for --wedged-after canary ticks since the last restart. Evidence
// that is missing, stale, unreadable or not a hang closes the wedged
// channel; evidence older than the last restart is about the process that
// restart replaced, and waits for the canary's next word.
func (g *guardian) hangEvidence() (ev hangEvidence, hanging bool) {
	t, w := g.t, g.s.Wedged
	ev, hanging, err := readHangEvidence(w.CanaryState, w.After, w.CanaryInterval, t.Now())
	switch {
	case errors.Is(err, os.ErrNotExist):
		// No canary on this host (yet): nothing to judge by.
	case errors.Is(err, errStaleCanary):
		t.Log.Info("wedged_no_evidence", "check", CheckWedged, "canary_state", w.CanaryState, "reason", err.Error())
	case err != nil:
		t.Log.Warn("wedged_no_evidence", "check", CheckWedged, "canary_state", w.CanaryState, "error", redact.Error(err))
	}
	if err != nil || !hanging {
		g.notWedged()
		return ev, false
	}
	// A last restart after now is taken as now, or every canary tick would
	// predate it and the wedged check never judge again.
	var last time.Time
	if _, err := t.State.Get(lastRestartKey, &last); err == nil {
		if past := t.PastTime(lastRestartKey, last); !past.Equal(last) {
			last = past
			t.State.Put(lastRestartKey, last)
		}
	}
	if !last.IsZero() && !ev.LastTick.After(last) {
		t.Log.Info("wedged_no_evidence", "check", CheckWedged, "canary_check", ev.Check,
			"reason", "the canary has not run since the last restart")
		return ev, false
	}
	return ev, true
}

// busySample is what the primary did while chat hung: its CPU over
// --cpu-window and, when that was idle, whether the server's own metrics
// show it at work (busyBy "cpu" or "requests"; "" when neither).
type busySample struct {
	PID      int
	Usage    proccpu.Usage
	BusyBy   string
	Running  float64 // requests running, when BusyBy is "requests"
	BusyWhat string  // what the metrics showed, when BusyBy is "requests"
}

// sampleBusy samples the primary's CPU (its whole process tree: a
// server's work may run in a child, Ollama's runner) and reads the
// server's own metrics on both sides of the window: they can say it is at
// work where its CPU does not (a GPU server's CPU idles while it serves).
// ok is false when there is nothing to judge: the process went away, the
// sample failed (UNKNOWN on wedged), or a signal cut it short.
func (g *guardian) sampleBusy(ctx context.Context, pid int) (busySample, bool) {
	t, w := g.t, g.s.Wedged
	metricsBefore := g.readServerMetrics(ctx)
	usage, err := proccpu.New().Sample(ctx, pid, w.CPUWindow)
	switch {
	case ctx.Err() != nil:
		return busySample{}, false
	case errors.Is(err, proccpu.ErrNoProcess):
		t.Log.Info("wedged_skip", "check", CheckWedged, "pid", pid, "reason", "the primary process went away while sampled")
		return busySample{}, false
	case err != nil:
		t.Unknown(CheckWedged, "cpu_sample_failed", fmt.Sprintf("cannot sample the primary's CPU (pid %d): %s", pid, redact.Error(err)))
		return busySample{}, false
	}
	s := busySample{PID: pid, Usage: usage}
	if !usage.Below(w.IdleCPU) {
		s.BusyBy = "cpu"
	} else if busy, why := requestsBusy(metricsBefore, g.readServerMetrics(ctx)); busy {
		s.BusyBy, s.Running, s.BusyWhat = reasonRequests, *t.ServerMetrics.RequestsRunning, why
	}
	return s, true
}

// wedgedVerdict is judgeWedged's decision: wait (the primary is working),
// or restart for reason (idle: wedged; runaway: busy too long) with the
// alert's message and the event's attributes.
type wedgedVerdict struct {
	wait   bool
	reason string
	msg    string
	attrs  []any
}

// judgeWedged decides on a hang and what the primary did meanwhile: idle
// is wedged; working (CPU or requests) is left alone, its episode timed
// from the first tick that saw it busy (kept in the state), until it has
// lasted --max-busy: then it is a runaway. Waiting is logged
// (probe_skip_busy) and said in the OK summary.
func (g *guardian) judgeWedged(ev hangEvidence, s busySample) (wedgedVerdict, error) {
	t, w := g.t, g.s.Wedged
	cpuPct := s.Usage.Cores() * 100
	attrs := []any{"canary_check", ev.Check, "canary_consecutive", ev.Consecutive, "pid", s.PID,
		"cpu_pct", round2(cpuPct), "cpu_procs", s.Usage.Procs, "cpu_window_ms", s.Usage.Window.Milliseconds(), "idle_cpu_pct", round2(w.IdleCPU * 100)}
	if s.BusyBy == reasonRequests {
		attrs = append(attrs, "requests_running", s.Running, "busy_detail", s.BusyWhat)
	}
	label := t.Common.PrimaryLabel
	if s.BusyBy == "" {
		return wedgedVerdict{reason: reasonIdle, attrs: attrs,
			msg: fmt.Sprintf("primary %s is wedged: /v1/models answers but chat has hung for %d canary tick(s) (%s) and its CPU is idle (%.1f%% of a core over %s, %s); restarting",
				label, ev.Consecutive, ev.Check, cpuPct, s.Usage.Window.Round(time.Second), procsWord(s.Usage.Procs))}, nil
	}
	since := g.busySince()
	if since.IsZero() {
		since = t.Now()
		if err := t.State.Put(busySinceKey, since); err != nil {
			return wedgedVerdict{}, err
		}
	}
	busyFor := max(t.Now().Sub(since), 0)
	if busyFor >= w.MaxBusy {
		return wedgedVerdict{reason: reasonRunaway, attrs: append(attrs, "busy_ms", busyFor.Milliseconds(), "busy_by", s.BusyBy),
			msg: fmt.Sprintf("primary %s is a runaway: chat has hung for %d canary tick(s) (%s) while it stayed busy (%s; %.1f%% of a core) for over %s; restarting",
				label, ev.Consecutive, ev.Check, s.BusyBy, cpuPct, w.MaxBusy)}, nil
	}
	t.Log.Info("probe_skip_busy", append(attrs, "check", CheckWedged, "reason", s.BusyBy,
		"busy_ms", busyFor.Milliseconds(), "max_busy_ms", w.MaxBusy.Milliseconds())...)
	if s.BusyBy == reasonRequests {
		t.OKSummary(fmt.Sprintf("chat hangs (canary %s x%d) but the server is serving %g request(s) (%.1f%% CPU): not restarted",
			ev.Check, ev.Consecutive, s.Running, cpuPct))
	} else {
		t.OKSummary(fmt.Sprintf("chat hangs (canary %s x%d) but the primary is working (%.1f%% CPU, %s): not restarted",
			ev.Check, ev.Consecutive, cpuPct, procsWord(s.Usage.Procs)))
	}
	return wedgedVerdict{wait: true}, nil
}

// notWedged closes the wedged channel and forgets a busy episode: chat
// answers (or nothing says it does not).
func (g *guardian) notWedged() {
	delete(g.t.State.Data, busySinceKey)
	g.t.Clear(CheckWedged)
}

// busySince is when the primary was first seen busy in this episode; a
// time after now is taken as now, or the episode would last 0 ms forever
// and --max-busy never fire.
func (g *guardian) busySince() time.Time {
	var ts time.Time
	if _, err := g.t.State.Get(busySinceKey, &ts); err != nil {
		return time.Time{}
	}
	if past := g.t.PastTime(busySinceKey, ts); !past.Equal(ts) {
		ts = past
		if err := g.t.State.Put(busySinceKey, ts); err != nil {
			g.t.Log.Warn("state_error", "key", busySinceKey, "error", err.Error())
		}
	}
	return ts
}

// verifyChat is the heal check of a wedged restart: a tiny chat completion
// must come back within --timeout. /v1/models proves nothing here: it was
// green all along.
func (g *guardian) verifyChat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, g.s.Timeout)
	defer cancel()
	res, err := openai.New(g.t.Client).Chat(ctx, openai.UserPrompt(g.t.Common.Model, "Reply with OK.", verifyChatMaxTokens))
	if err != nil {
		return err
	}
	if strings.TrimSpace(res.Content) == "" && strings.TrimSpace(res.Reasoning) == "" {
		return errors.New("chat verify: HTTP 200 with an empty answer")
	}
	return nil
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// procsWord says what a CPU sample covered: "1 process" or "3 processes:
// the primary and its children".
func procsWord(n int) string {
	if n <= 1 {
		return "1 process"
	}
	return fmt.Sprintf("%d processes: the primary and its children", n)
}
