package status

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/state"
)

// TestPaceRow: council-pace is expected by default, judged stale against
// its 15-minute interval, and its row shows the speeds against the usual
// ones, which its tick summary leads with.
func TestPaceRow(t *testing.T) {
	h := newHost(t)
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	st := state.New("pace")
	st.LastTick = now.Add(-20 * time.Minute)
	st.LastSummary = "TTFT 0.41 s (1.1x usual), decode 31.2 tok/s (0.97x usual) (council-27b)"
	if err := st.Save(filepath.Join(h.stateDir, "council-pace.json")); err != nil {
		t.Fatal(err)
	}
	cfg := h.config(DefaultProbes...)
	cfg.Now = func() time.Time { return now }
	r := Collect(cfg)
	var row *ProbeStatus
	for i := range r.Probes {
		if r.Probes[i].Name == "pace" {
			row = &r.Probes[i]
		}
	}
	if row == nil {
		t.Fatalf("no pace row in %+v", r.Probes)
	}
	if row.Stale || row.Result != "OK" {
		t.Errorf("pace row %+v: a tick 20 min old is fresh (stale after 45 min)", row)
	}
	var b bytes.Buffer
	if err := WriteText(&b, r, TextOptions{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "(1.1x usual), decode 31.2 tok/s (0.97x usual)") {
		t.Errorf("status screen lacks pace's ratios:\n%s", b.String())
	}

	cfg.Now = func() time.Time { return now.Add(30 * time.Minute) } // 50 min after the tick
	for _, p := range Collect(cfg).Probes {
		if p.Name == "pace" && !p.Stale {
			t.Errorf("pace 50 min after its last tick is not stale: %+v", p)
		}
	}
}
