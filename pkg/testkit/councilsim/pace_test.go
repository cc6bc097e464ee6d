package councilsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// paceStream reads an SSE answer and notes when the first and the last
// content token arrived, and the fingerprints the chunks carried.
type paceStream struct {
	stream
	sent, first, last time.Time
	fingerprints      map[string]bool
	contentChunks     int
}

func postPace(t *testing.T, url string, body chatBody) paceStream {
	t.Helper()
	b, _ := json.Marshal(body)
	c := newClient(30*time.Second, nil)
	ps := paceStream{sent: time.Now(), fingerprints: map[string]bool{}}
	resp, err := c.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 4<<20) // a chunk may carry a megabyte-long model id (huge_ids)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			ps.done = true
			continue
		}
		var c chatResponse
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		ps.fingerprints[c.SystemFingerprint] = true
		if c.Usage != nil {
			ps.usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta != nil && ch.Delta.Content != nil && *ch.Delta.Content != "" {
				now := time.Now()
				if ps.first.IsZero() {
					ps.first = now
				}
				ps.last = now
				ps.contentChunks++
				ps.content += *ch.Delta.Content
			}
			if ch.FinishReason != nil {
				ps.finish = *ch.FinishReason
			}
		}
	}
	ps.err = sc.Err()
	return ps
}

// TestCountingHonoursMaxTokens: a counting prompt is answered with exactly
// max_tokens tokens, one per chunk, and the usage chunk says so; the
// prompt's tokens are its words.
func TestCountingHonoursMaxTokens(t *testing.T) {
	sim := startSim(t, Config{})
	prompt := "nonce-1234 Please count from 1 upward, one number per word."
	tests := []struct {
		name       string
		extra      chatBody
		wantTokens int
		wantFinish string
		wantUsage  bool
	}{
		{"max_tokens 16", chatBody{"max_tokens": 16}, 16, "length", false},
		{"max_completion_tokens 5 with usage", chatBody{"max_completion_tokens": 5, "stream_options": chatBody{"include_usage": true}}, 5, "length", true},
		{"no limit counts to the default", chatBody{"stream_options": chatBody{"include_usage": true}}, CountingDefault, "stop", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := userChat(prompt, chatBody{"stream": true})
			for k, v := range tt.extra {
				body[k] = v
			}
			s := postPace(t, sim.PlainURL(), body)
			if s.err != nil || !s.done {
				t.Fatalf("stream err %v done %v", s.err, s.done)
			}
			if s.contentChunks != tt.wantTokens || s.finish != tt.wantFinish {
				t.Errorf("%d content chunks, finish %q; want %d %q", s.contentChunks, s.finish, tt.wantTokens, tt.wantFinish)
			}
			if want := strings.Join(countingTokens(tt.wantTokens), ""); s.content != want {
				t.Errorf("content %q, want %q", s.content, want)
			}
			if (s.usage != nil) != tt.wantUsage {
				t.Fatalf("usage %+v, want present=%v", s.usage, tt.wantUsage)
			}
			if s.usage != nil {
				words := len(strings.Fields(prompt))
				if s.usage.CompletionTokens != tt.wantTokens || s.usage.PromptTokens != words || s.usage.TotalTokens != words+tt.wantTokens {
					t.Errorf("usage %+v, want prompt %d completion %d", s.usage, words, tt.wantTokens)
				}
			}
		})
	}
}

// TestPaceDelays: the first token comes no sooner than TTFT, and the
// decode takes no less than (n-1) token delays. Only lower bounds are
// checked: a timer never fires early, while an upper bound would flake on a
// loaded machine.
func TestPaceDelays(t *testing.T) {
	const ttft, delay, n = 150 * time.Millisecond, 20 * time.Millisecond, 6
	sim := startSim(t, Config{Pace: Pace{TTFT: ttft, TokenDelay: delay, Fingerprint: "fp_a"}})
	s := postPace(t, sim.PlainURL(), userChat("count from 1", chatBody{"stream": true, "max_tokens": n}))
	if s.contentChunks != n {
		t.Fatalf("%d tokens, want %d", s.contentChunks, n)
	}
	if got := s.first.Sub(s.sent); got < ttft {
		t.Errorf("first token after %s, want at least the TTFT %s", got, ttft)
	}
	if got := s.last.Sub(s.first); got < (n-1)*delay {
		t.Errorf("decode took %s, want at least %s", got, (n-1)*delay)
	}
	if !s.fingerprints["fp_a"] || len(s.fingerprints) != 1 {
		t.Errorf("fingerprints %v, want only fp_a", s.fingerprints)
	}

	// JSON waits the same time as a stream would.
	start := time.Now()
	_, b, err := post(newClient(10*time.Second, nil), sim.PlainURL(), userChat("count from 1", chatBody{"max_tokens": n}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := time.Since(start), ttft+(n-1)*delay; got < want {
		t.Errorf("JSON answer after %s, want at least %s", got, want)
	}
	if r := decodeChat(t, b); r.SystemFingerprint != "fp_a" || *r.Choices[0].Message.Content != strings.Join(countingTokens(n), "") {
		t.Errorf("JSON answer %s", b)
	}
}

// TestPaceControl: the control listener changes the pace at run time,
// field by field, and GET /state shows it; a client sees the change.
func TestPaceControl(t *testing.T) {
	sim := startSim(t, Config{Pace: Pace{TTFT: 10 * time.Millisecond, TokenDelay: time.Millisecond}})
	c := newClient(10*time.Second, nil)
	set := func(body string) State {
		t.Helper()
		resp, b, err := postControl(c, sim.ControlURL()+"/fault", body)
		if err != nil || resp != 200 {
			t.Fatalf("POST /fault %s: %d %s %v", body, resp, b, err)
		}
		var st State
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := set(`{"ttft":"400ms"}`)
	if st.TTFT != Duration(400*time.Millisecond) || st.TokenDelay != Duration(time.Millisecond) || st.Fault != FaultNone {
		t.Errorf("after ttft: %+v", st)
	}
	st = set(`{"token_delay":"30ms","system_fingerprint":"fp_b"}`)
	if st.TTFT != Duration(400*time.Millisecond) || st.TokenDelay != Duration(30*time.Millisecond) || st.Fingerprint != "fp_b" {
		t.Errorf("after token_delay: %+v", st)
	}
	if got := sim.Pace(); got != (Pace{TTFT: 400 * time.Millisecond, TokenDelay: 30 * time.Millisecond, Fingerprint: "fp_b"}) {
		t.Errorf("Pace() = %+v", got)
	}
	s := postPace(t, sim.PlainURL(), userChat("count from 1", chatBody{"stream": true, "max_tokens": 3}))
	if got := s.first.Sub(s.sent); got < 400*time.Millisecond {
		t.Errorf("first token after %s, want at least the new TTFT", got)
	}
	if !s.fingerprints["fp_b"] {
		t.Errorf("fingerprints %v, want fp_b", s.fingerprints)
	}
	if resp, b, _ := postControl(c, sim.ControlURL()+"/fault", `{"ttft":"fast"}`); resp != 400 {
		t.Errorf("bad ttft: %d %s", resp, b)
	}
}

// postControl posts body to url and returns the status and body.
func postControl(c *http.Client, url, body string) (int, []byte, error) {
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
