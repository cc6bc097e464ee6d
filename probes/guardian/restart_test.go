package guardian

import (
	"testing"
	"time"
)

func TestDecideRestart(t *testing.T) {
	w := defaultRestartWindow
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		name        string
		in          []time.Time
		max         int
		wantRecent  int
		wantFuture  int
		wantRefused bool
		wantUntil   time.Time
	}{
		{"empty", nil, 3, 0, 0, false, time.Time{}},
		{"all inside, under the limit", []time.Time{ago(10 * time.Second), ago(299 * time.Second)}, 3, 2, 0, false, time.Time{}},
		{"old ones dropped", []time.Time{ago(301 * time.Second), ago(time.Hour), ago(time.Second)}, 3, 1, 0, false, time.Time{}},
		{"exactly one window ago is outside", []time.Time{ago(w)}, 3, 0, 0, false, time.Time{}},
		{"at the limit: refused until the oldest leaves the window",
			[]time.Time{ago(10 * time.Second), ago(100 * time.Second), ago(50 * time.Second)}, 3, 3, 0, true, ago(100 * time.Second).Add(w)},
		{"max 0 refuses every restart", nil, 0, 0, 0, true, now},
		{"a few seconds ahead (clock corrected) still counts",
			[]time.Time{now.Add(2 * time.Second), ago(time.Second), ago(2 * time.Second)}, 3, 3, 0, true, ago(2 * time.Second).Add(w)},
		{"dated in 2031 is ignored, not a limit until 2031",
			[]time.Time{time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 3, 0, 0, 0, 0, time.UTC)},
			3, 0, 3, false, time.Time{}},
		{"a minute ahead is ignored too", []time.Time{now.Add(time.Minute), ago(time.Second)}, 1, 1, 1, true, ago(time.Second).Add(w)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decideRestart(tt.in, now, w, tt.max)
			if len(got.Recent) != tt.wantRecent || len(got.Future) != tt.wantFuture {
				t.Fatalf("recent %v future %v, want %d and %d", got.Recent, got.Future, tt.wantRecent, tt.wantFuture)
			}
			if got.Refused != tt.wantRefused || !got.Until.Equal(tt.wantUntil) {
				t.Errorf("refused %v until %v, want %v until %v", got.Refused, got.Until, tt.wantRefused, tt.wantUntil)
			}
			for i := 1; i < len(got.Recent); i++ {
				if got.Recent[i].Before(got.Recent[i-1]) {
					t.Errorf("not oldest first: %v", got.Recent)
				}
			}
		})
	}
}
