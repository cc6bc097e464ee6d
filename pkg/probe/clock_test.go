package probe

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChannelTimesFromTheFuture: a channel whose start and last alert lie
// in 2031 (a clock stepped back) is read as if they were now (clock_skew,
// once per time): its cooldown ends a cooldown from now, not in 2031, and
// its recovery does not say it failed for minus five years.
func TestChannelTimesFromTheFuture(t *testing.T) {
	e := newEnv(t)
	p := testProbe(false)
	future := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	state := map[string]any{"version": 1, "probe": "testprobe", "channels": map[string]any{
		"answer": map[string]any{"consecutive": 2, "firing": true, "severity": "error", "summary": "wrong answer 5",
			"last_severity": "error", "since": future, "last_alert": future},
	}}
	b, _ := json.Marshal(state)
	if err := os.MkdirAll(e.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.stateDir, "council-testprobe.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e.run(t, p, "--outcome", "error")
	var saved struct {
		Channels map[string]struct {
			Since     time.Time `json:"since"`
			LastAlert time.Time `json:"last_alert"`
		} `json:"channels"`
	}
	data, _ := os.ReadFile(path)
	json.Unmarshal(data, &saved)
	skews := 0
	for _, ev := range e.events(t) {
		if ev["event"] == "clock_skew" {
			skews++
			if k, _ := ev["key"].(string); !strings.HasPrefix(k, "channels.answer.") {
				t.Errorf("clock_skew for key %q", k)
			}
		}
	}
	if skews != 2 {
		t.Errorf("%d clock_skew events, want 2 (since, last_alert)", skews)
	}
	if c := saved.Channels["answer"]; c.Since.After(time.Now()) || c.LastAlert.After(time.Now()) {
		t.Errorf("the channel still starts or last alerted in the future: %+v", c)
	}
	if n := len(e.ff.payloads()); n != 0 {
		t.Errorf("%d alerts inside the cooldown that starts now", n)
	}

	e.run(t, p, "--outcome", "ok")
	got := e.ff.payloads()
	if len(got) != 1 || !strings.Contains(got[0].Title, "recovered") || strings.Contains(got[0].Message, "after -") {
		t.Errorf("recovery %+v: want one, after a duration that is not negative", got)
	}
}

// TestPastTimes: every time after now becomes now; one clock_skew event
// says how many and the latest.
func TestPastTimes(t *testing.T) {
	var log bytes.Buffer
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tk := &Tick{Log: slog.New(slog.NewJSONHandler(&log, nil)), Now: func() time.Time { return now }}
	in := []time.Time{now.Add(-time.Hour), now.Add(time.Hour), now, now.Add(48 * time.Hour)}
	got := tk.PastTimes("restart_history", in)
	want := []time.Time{now.Add(-time.Hour), now, now, now}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("PastTimes[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if n := strings.Count(log.String(), `"msg":"clock_skew"`); n != 1 || !strings.Contains(log.String(), `"future":2`) || !strings.Contains(log.String(), `"ahead_s":172800`) {
		t.Errorf("log %s: want one clock_skew for 2 times, the latest 48 h ahead", log.String())
	}
	log.Reset()
	kept := tk.DropFuture("crash_history", []time.Time{now.Add(-time.Minute), now.Add(time.Minute), now})
	if len(kept) != 2 || !kept[0].Equal(now.Add(-time.Minute)) || !kept[1].Equal(now) || strings.Count(log.String(), `"future":1`) != 1 {
		t.Errorf("DropFuture kept %v, logged %s", kept, log.String())
	}
	log.Reset()
	if ts := tk.PastTime("k", now.Add(-time.Second)); !ts.Equal(now.Add(-time.Second)) || log.Len() != 0 {
		t.Errorf("a past time was changed or logged: %v %s", ts, log.String())
	}
}
