package drift

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/state"
)

func TestStaleFinding(t *testing.T) {
	now := time.Date(2026, 4, 21, 3, 0, 0, 0, time.UTC)
	canary := watchedProbe{Name: "canary", Interval: 10 * time.Minute}
	stateJSON := func(last time.Time, intervalSeconds int) []byte {
		f := state.New("canary")
		f.LastTick, f.IntervalSeconds = last, intervalSeconds
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
		err  error
		// operator, when set, is the interval of --watch-probe given by
		// the operator (not the built-in list).
		operator time.Duration
		outcome  outcome
		want     string // summary substring
	}{
		{"fresh", stateJSON(now.Add(-5*time.Minute), 0), nil, 0, outcomePass, ""},
		{"just inside 3x", stateJSON(now.Add(-30*time.Minute), 0), nil, 0, outcomePass, ""},
		{"stale", stateJSON(now.Add(-31*time.Minute), 0), nil, 0, outcomeFail,
			"council-canary last completed a tick 31m0s ago at 2026-04-21T02:29:00Z (interval 10m0s, stale after 30m0s)"},
		{"state file interval wins", stateJSON(now.Add(-4*time.Minute), 60), nil, 0, outcomeFail, "(interval 1m0s, stale after 3m0s)"},
		{"state file interval wins the other way", stateJSON(now.Add(-2*time.Hour), 3600), nil, 0, outcomePass, ""},
		// 1e10 s wrapped a Duration negative (a fresh probe read as
		// stale); a year would hide a silent one. Past state.MaxInterval
		// the known interval is used.
		{"an interval that would wrap is ignored", stateJSON(now.Add(-5*time.Minute), 10_000_000_000), nil, 0, outcomePass, ""},
		{"an interval of a year is ignored", stateJSON(now.Add(-31*time.Minute), 365*86400), nil, 0, outcomeFail, "(interval 10m0s, stale after 30m0s)"},
		{"the operator's longer interval wins over the state file's", stateJSON(now.Add(-10*time.Minute), 30), nil, 10 * time.Minute, outcomePass, ""},
		{"the operator's shorter interval wins over the state file's", stateJSON(now.Add(-time.Minute), 300), nil, 5 * time.Second, outcomeFail, "(interval 5s, stale after 15s)"},
		{"a few seconds in the future (clock skew) is fresh", stateJSON(now.Add(20*time.Second), 0), nil, 0, outcomePass, ""},
		// Far in the future would read as fresh until the clock catches
		// up (for a bad file: forever); the probe's next tick rewrites it.
		{"far in the future is stale", stateJSON(now.Add(time.Hour), 0), nil, 0, outcomeFail, "is 1h0m0s in the future"},
		{"never completed a tick", stateJSON(time.Time{}, 600), nil, 0, outcomeFail, "council-canary has never completed a tick"},
		{"never ran", nil, &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}, 0, outcomeFail, "council-canary never ran: no state file /s/council-canary.json"},
		{"corrupt", []byte("{trunc"), nil, 0, outcomeFail, "council-canary's state file /s/council-canary.json is corrupt"},
		{"unreadable", nil, &fs.PathError{Op: "open", Path: "x", Err: fs.ErrPermission}, 0, outcomeUnknown, "cannot read council-canary's state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := canary
			if tt.operator != 0 {
				w = watchedProbe{Name: "canary", Interval: tt.operator, FromOperator: true}
			}
			f := staleFinding(now, w, "/s/council-canary.json", tt.data, tt.err)
			if f.Channel != "probe_stale:canary" {
				t.Errorf("channel = %q", f.Channel)
			}
			if f.Outcome != tt.outcome || !strings.Contains(f.Summary, tt.want) {
				t.Errorf("outcome %v %q, want %v %q", f.Outcome, f.Summary, tt.outcome, tt.want)
			}
			if f.Outcome == outcomeFail && f.Severity != alert.Error {
				t.Errorf("severity = %s, want error", f.Severity)
			}
		})
	}
}

// checkStale only reads: a corrupt state file of another probe is left
// exactly as it is (state.Load would have renamed it).
func TestCheckStaleLeavesOtherProbesStateAlone(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "council-canary.json")
	if err := os.WriteFile(p, []byte("{corrupt"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := checkStale(time.Now(), dir, []watchedProbe{{Name: "canary", Interval: time.Minute}, {Name: "guardian", Interval: time.Second}})
	if len(fs) != 2 || fs[0].Outcome != outcomeFail || fs[1].Outcome != outcomeFail {
		t.Fatalf("findings = %+v", fs)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "{corrupt" {
		t.Fatalf("state file changed: %q %v", b, err)
	}
	if _, err := os.Stat(p + ".corrupt"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state file was moved aside: %v", err)
	}
}

func TestParseWatched(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []watchedProbe
		wantErr string
	}{
		{"defaults", defaultWatched(suite.Probes), []watchedProbe{{Name: "guardian", Interval: 30 * time.Second}, {Name: "canary", Interval: 10 * time.Minute}, {Name: "integrity", Interval: 5 * time.Minute}, {Name: "parity-smoke", Interval: 24 * time.Hour}, {Name: "pace", Interval: 15 * time.Minute}, {Name: "context", Interval: 24 * time.Hour}}, ""},
		{"none", nil, nil, ""},
		{"spaces", []string{" canary = 10m "}, []watchedProbe{{Name: "canary", Interval: 10 * time.Minute}}, ""},
		{"no interval", []string{"canary"}, nil, "want name=interval"},
		{"bad interval", []string{"canary=soon"}, nil, "positive duration"},
		{"zero interval", []string{"canary=0s"}, nil, "positive duration"},
		{"path in name", []string{"../x=1m"}, nil, "want a probe name"},
		{"twice", []string{"canary=1m", "canary=2m"}, nil, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWatched(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestCheckStaleNeverBlocksOrReadsAHugeState(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "council-canary.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "council-guardian.json"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(300 << 20) // sparse
	f.Close()
	done := make(chan []finding, 1)
	go func() {
		done <- checkStale(time.Now(), dir, []watchedProbe{{Name: "canary", Interval: time.Minute}, {Name: "guardian", Interval: time.Second}})
	}()
	select {
	case fs := <-done:
		if len(fs) != 2 || fs[0].Outcome != outcomeUnknown || fs[1].Outcome != outcomeUnknown {
			t.Fatalf("findings = %+v, want two that cannot read the state", fs)
		}
	case <-time.After(20 * time.Second): // a hang bound, not a timing assertion
		t.Fatal("checkStale blocked on a FIFO state file")
	}
}
