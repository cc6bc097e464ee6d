package pace

import (
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/accesslog"
	"github.com/sanctum/council-probes/pkg/openai"
)

// TestOwnRequest: the probe's own line in the access log is recognised by
// its start and end, so only other clients' requests make a sample busy.
func TestOwnRequest(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	tm := openai.Timings{Start: t0, FirstToken: t0.Add(800 * time.Millisecond), LastToken: t0.Add(1100 * time.Millisecond), End: t0.Add(1110 * time.Millisecond)}
	at := func(end, dur time.Duration) accesslog.Completion {
		return accesslog.Completion{At: t0.Add(end), Duration: dur, HasDuration: true}
	}
	tests := []struct {
		name string
		cs   []accesslog.Completion
		want int
	}{
		{"only ours, logged a little after the last token was read", []accesslog.Completion{at(1105*time.Millisecond, 1104*time.Millisecond)}, 0},
		{"ours, logged before the client read the last token (a loaded client)", []accesslog.Completion{at(1000*time.Millisecond, 998*time.Millisecond)}, 0},
		{"ours, dated a millisecond before the client's send (cut timestamps)", []accesslog.Completion{at(1105*time.Millisecond, 1106*time.Millisecond)}, 0},
		{"another client's short request during our prefill", []accesslog.Completion{at(300*time.Millisecond, 5*time.Millisecond)}, -1},
		{"another client's request that began before ours", []accesslog.Completion{at(900*time.Millisecond, 2*time.Second)}, -1},
		{"ours newest, another older", []accesslog.Completion{at(1105*time.Millisecond, 1100*time.Millisecond), at(300*time.Millisecond, 5*time.Millisecond)}, 0},
		{"not logged yet: nothing is ours", nil, -1},
		{"no durations: the line at the last token is ours", []accesslog.Completion{{At: t0.Add(1101 * time.Millisecond)}, {At: t0.Add(400 * time.Millisecond)}}, 0},
		{"no durations: a line well before the last token is not", []accesslog.Completion{{At: t0.Add(400 * time.Millisecond)}}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ownRequest(tt.cs, tm); got != tt.want {
				t.Errorf("ownRequest = %d, want %d", got, tt.want)
			}
		})
	}
}
