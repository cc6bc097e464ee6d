package pace

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/accesslog"
	"github.com/sanctum/council-probes/pkg/server/openai"
	"github.com/sanctum/council-probes/pkg/server/transport"
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

// TestTakeWithoutUsage: a server that sends no usage chunk (it ignores
// stream_options) still gives a sample: the content events are counted
// and the sample says so; the prompt tokens are unknown.
func TestTakeWithoutUsage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != openai.ChatPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		send := func(s string) { fmt.Fprintf(w, "data: %s\n\n", s); rc.Flush() }
		send(`{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`)
		for i := 1; i <= 5; i++ {
			time.Sleep(2 * time.Millisecond) // the decode must take some time to be measured
			send(fmt.Sprintf(`{"model":"m","choices":[{"index":0,"delta":{"content":" %d"}}]}`, i))
		}
		send(`{"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`)
		send("[DONE]")
	}))
	defer srv.Close()
	tc, err := transport.Resolve(transport.Config{Mode: transport.Bearer, URL: srv.URL, TokenFile: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	s := settings{Model: "m", PromptTokens: defaultPromptTokens, DecodeTokens: 5, Deadline: 10 * time.Second, Stall: 5 * time.Second}
	m := sampler{Client: openai.New(tc)}.take(context.Background(), s)
	if m.Skip != "" || !m.TokensCounted || m.CompletionTokens != 5 || m.PromptTokens != -1 || m.Sample.DecodeTPS <= 0 || m.Sample.TTFT <= 0 {
		t.Fatalf("sample %+v (err %v): want 5 counted tokens, a decode speed, no prompt count", m, m.Err)
	}
	attrs := fmt.Sprint(sampleAttrs(s, &baseline{}, m, verdict{}))
	if !strings.Contains(attrs, "tokens_counted true") || strings.Contains(attrs, "prompt_tokens") || strings.Contains(attrs, "prefill_tps") {
		t.Errorf("pace_sample attributes %s: want tokens_counted, and no prompt or prefill figures", attrs)
	}
}

// TestTakeCutByDeadline: a stream the deadline cuts while tokens still
// arrive is a very slow server, not a dead one: it is measured on what came
// (partial). A stream that never sent a token is skipped as a hang.
func TestTakeCutByDeadline(t *testing.T) {
	for _, tokens := range []int{5, 0} {
		t.Run(fmt.Sprintf("%d tokens before the deadline", tokens), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				rc := http.NewResponseController(w)
				send := func(s string) { fmt.Fprintf(w, "data: %s\n\n", s); rc.Flush() }
				send(`{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`)
				for i := 1; i <= tokens; i++ {
					time.Sleep(2 * time.Millisecond)
					send(fmt.Sprintf(`{"model":"m","choices":[{"index":0,"delta":{"content":" %d"}}]}`, i))
				}
				<-r.Context().Done() // then nothing, until the client gives up
			}))
			defer srv.Close()
			tc, err := transport.Resolve(transport.Config{Mode: transport.Bearer, URL: srv.URL, TokenFile: filepath.Join(t.TempDir(), "none")})
			if err != nil {
				t.Fatal(err)
			}
			s := settings{Model: "m", PromptTokens: defaultPromptTokens, DecodeTokens: 128, Deadline: 500 * time.Millisecond, Stall: 30 * time.Second}
			m := sampler{Client: openai.New(tc)}.take(context.Background(), s)
			if tokens == 0 {
				if m.Skip != "hang" {
					t.Errorf("skip %q (err %v), want hang", m.Skip, m.Err)
				}
				return
			}
			if m.Skip != "" || !m.Partial || m.CompletionTokens != tokens || m.Sample.DecodeTPS <= 0 {
				t.Errorf("sample %+v (err %v): want a partial sample of %d tokens", m, m.Err, tokens)
			}
		})
	}
}
