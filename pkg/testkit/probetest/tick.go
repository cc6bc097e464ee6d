package probetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/eventlog"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/probe"
)

// Epoch is where a Clock starts: a fixed time, so a test's times and
// messages do not depend on when it runs.
var Epoch = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// Clock is a fake clock: it stands still until told to move.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock d on (back, for a negative d: a clock stepped
// back).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Tick is one tick of a probe run in-process, for tests of its decisions:
// a *probe.Tick (probe.NewTick) on a fake clock, its events recorded in
// memory, its alerts readable. No process runs, no network is touched and
// no file is written outside the test's t.TempDir(): the tick's home and
// state dir are there, and it saves nothing.
type Tick struct {
	*probe.Tick
	Clock *Clock

	t   testing.TB
	log *lockedBuffer
}

// NewTick returns a first tick of p on a fresh state at Epoch. cfg is the
// tick's common settings; an empty Home is a new t.TempDir(), an empty
// StateDir the home's (created), and the log file is "-" (the events are
// the Tick's). The caller sets what else the decision under test reads:
// cfg's labels, the tick's Client or Server.
func NewTick(t testing.TB, p *probe.Probe, cfg probe.Common) *Tick {
	t.Helper()
	if cfg.Home == "" {
		cfg.Home = t.TempDir()
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(cfg.Home, ".sanctum", "state")
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg.LogFile = "-"
	return newTick(t, p, cfg, state.New(p.Name), NewClock(Epoch))
}

func newTick(t testing.TB, p *probe.Probe, cfg probe.Common, st *state.File, clock *Clock) *Tick {
	buf := &lockedBuffer{}
	log := slog.New(eventlog.NewHandler(buf))
	return &Tick{Tick: probe.NewTick(p, cfg, st, log, clock.Now), Clock: clock, t: t, log: buf}
}

// Next is the probe's next tick, d later: the same state (the channels as
// this tick left them, its data), a fresh record of events and alerts.
func (k *Tick) Next(d time.Duration) *Tick {
	k.Clock.Advance(d)
	next := newTick(k.t, k.Probe, k.Common, k.State, k.Clock)
	next.Client, next.Server, next.Backend = k.Client, k.Server, k.Backend
	return next
}

// Events are the events the tick logged, in order (each a JSON object:
// event, level, check, the event's attributes).
func (k *Tick) Events() []map[string]any {
	k.t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(k.log.Bytes()))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			k.t.Fatalf("event is not JSON: %q", sc.Text())
		}
		evs = append(evs, m)
	}
	return evs
}

// Find returns the events named event (optionally only for check).
func (k *Tick) Find(event, check string) []map[string]any { return Find(k.Events(), event, check) }

// Alerts are the alerts the tick queued (delivered when a real tick ends).
func (k *Tick) Alerts() []alert.Notice { return k.Notices() }

// lockedBuffer is a bytes.Buffer safe for a logger written from more than
// one goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
