package guardian

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fifokit "github.com/sanctum/council-probes/pkg/testkit/fifo"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/state"
)

func writeCanaryState(t *testing.T, last time.Time, interval int, channels map[string]int) string {
	t.Helper()
	st := state.New("canary")
	st.IntervalSeconds, st.LastTick = interval, last
	for name, n := range channels {
		st.Channels[name] = &alert.Channel{Consecutive: n}
	}
	p := filepath.Join(t.TempDir(), "council-canary.json")
	if err := st.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadHangEvidence(t *testing.T) {
	for _, tc := range []struct {
		name     string
		last     time.Time
		interval int
		channels map[string]int
		hanging  bool
		check    string
		stale    bool
	}{
		{"two hang ticks", now.Add(-time.Minute), 600, map[string]int{"hang": 2}, true, "hang", false},
		{"one hang tick", now.Add(-time.Minute), 600, map[string]int{"hang": 1}, false, "hang", false},
		{"stream stall counts", now, 600, map[string]int{"stream_stall": 3, "hang": 1}, true, "stream_stall", false},
		{"other channels do not", now, 600, map[string]int{"wrong_answer": 5}, false, "", false},
		{"just inside 3 intervals", now.Add(-30 * time.Minute), 600, map[string]int{"hang": 2}, true, "hang", false},
		{"older than 3 intervals", now.Add(-31 * time.Minute), 600, map[string]int{"hang": 9}, false, "", true},
		{"the state's interval wins", now.Add(-31 * time.Minute), 3600, map[string]int{"hang": 2}, true, "hang", false},
		{"dated in the future", now.Add(time.Hour), 600, map[string]int{"hang": 2}, false, "", true},
		{"never ticked", time.Time{}, 600, map[string]int{"hang": 2}, false, "", true},
		// 1e10 s wrapped a Duration negative: every state read as stale,
		// so a hanging chat was never evidence. Out of range, the
		// canary's default interval is used.
		{"an interval no probe can have is ignored", now.Add(-time.Minute), 10_000_000_000, map[string]int{"hang": 2}, true, "hang", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeCanaryState(t, tc.last, tc.interval, tc.channels)
			ev, hanging, err := readHangEvidence(p, 2, defaultCanaryInterval, now)
			if errors.Is(err, errStaleCanary) != tc.stale || hanging != tc.hanging || (!tc.stale && ev.Check != tc.check) {
				t.Fatalf("= %+v, %v, %v", ev, hanging, err)
			}
		})
	}
}

// The canary's state is the canary's: a corrupt one is an error, and it is
// left exactly where and as it was (state.Load would move it aside).
func TestReadHangEvidenceLeavesACorruptStateAlone(t *testing.T) {
	p := filepath.Join(t.TempDir(), "council-canary.json")
	if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readHangEvidence(p, 2, defaultCanaryInterval, now); err == nil || errors.Is(err, errStaleCanary) {
		t.Fatalf("err = %v", err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "{not json" {
		t.Fatalf("the canary's file changed: %q, %v", b, err)
	}
	if _, _, err := readHangEvidence(filepath.Join(t.TempDir(), "none"), 2, defaultCanaryInterval, now); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: err = %v", err)
	}
}

// A FIFO at the canary's state path is an error at once: the open must not
// wait for a writer, or the guardian's tick hangs.
func TestReadHangEvidenceRefusesAFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "council-canary.json")
	fifokit.Make(t, p)
	fifokit.Refused(t, "readHangEvidence of a FIFO", func() error {
		_, _, err := readHangEvidence(p, 2, defaultCanaryInterval, now)
		return err
	})
}

func TestCauseString(t *testing.T) {
	c := deathCause{LastExit: "signal 11 (Segmentation fault: 11)", Source: "launchd", Lines: []string{"a", "b"}}
	if got := withCause("restarting", c); got != "restarting (cause: launchd: last exit signal 11 (Segmentation fault: 11); log: a | b)" {
		t.Fatalf("withCause = %q", got)
	}
	if got := withCause("restarting", deathCause{}); got != "restarting" {
		t.Fatalf("empty cause: %q", got)
	}
	if a := (deathCause{}).attrs(); a != nil {
		t.Fatalf("empty cause attrs: %v", a)
	}
	if !strings.Contains(deathCause{Lines: []string{"x"}}.String(), "log: x") {
		t.Fatal("lines only")
	}
}
