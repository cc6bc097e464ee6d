package councilsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
)

func TestParseFault(t *testing.T) {
	for _, f := range Faults {
		if got, err := ParseFault(string(f)); err != nil || got != f {
			t.Errorf("ParseFault(%q) = %q, %v", f, got, err)
		}
	}
	if got, err := ParseFault(""); err != nil || got != FaultNone {
		t.Errorf("ParseFault(\"\") = %q, %v", got, err)
	}
	if _, err := ParseFault("bogus"); err == nil {
		t.Error("ParseFault(bogus): want error")
	}
	if err := New(Config{}).SetFault("bogus"); err == nil {
		t.Error("SetFault(bogus): want error")
	}
}

// TestFaults switches each fault on a running simulator and checks what a
// real client sees, on /v1/models and on chat (JSON and stream).
func TestFaults(t *testing.T) {
	sim := startSim(t, Config{Answers: map[string]string{"parity": "alpha beta gamma delta epsilon"}, SlowDelay: 300 * time.Millisecond, DivergeAfter: 2})
	patient := newClient(10*time.Second, nil)
	impatient := newClient(hangTimeout, nil)

	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	models := func(c *http.Client) result {
		r, b, err := get(c, sim.PlainURL()+"/v1/models")
		return result{r, b, err}
	}
	chat := func(c *http.Client, prompt string) result {
		r, b, err := post(c, sim.PlainURL(), userChat(prompt, chatBody{"logprobs": true}))
		return result{r, b, err}
	}
	wantOK := func(t *testing.T, r result) {
		t.Helper()
		if r.err != nil || r.resp.StatusCode != 200 {
			t.Fatalf("want 200, got %v %v", r.resp, r.err)
		}
	}
	wantTimeout := func(t *testing.T, r result) {
		t.Helper()
		if !isTimeout(r.err) {
			t.Fatalf("want a client timeout, got err %v", r.err)
		}
	}
	answer := func(t *testing.T, r result) (string, []string) {
		t.Helper()
		wantOK(t, r)
		ch := decodeChat(t, r.body).Choices[0]
		var toks []string
		for _, lp := range ch.Logprobs.Content {
			toks = append(toks, lp.Token)
		}
		return *ch.Message.Content, toks
	}
	everywhere := func(check func(t *testing.T, r result)) func(t *testing.T) {
		return func(t *testing.T) {
			t.Run("models", func(t *testing.T) { check(t, models(patient)) })
			t.Run("chat", func(t *testing.T) { check(t, chat(patient, "2+2")) })
			t.Run("unknown path", func(t *testing.T) {
				r, b, err := get(patient, sim.PlainURL()+"/nope")
				check(t, result{r, b, err})
			})
		}
	}

	tests := []struct {
		fault Fault
		check func(t *testing.T)
	}{
		{FaultNone, func(t *testing.T) {
			if got, _ := answer(t, chat(patient, "What is 2+2?")); got != "4" {
				t.Errorf("answer %q", got)
			}
		}},
		{FaultHang, func(t *testing.T) {
			wantOK(t, models(impatient)) // the incident: models fine, chat hangs
			wantTimeout(t, chat(impatient, "2+2"))
		}},
		{FaultHangAll, func(t *testing.T) {
			wantTimeout(t, models(impatient))
			wantTimeout(t, chat(impatient, "2+2"))
		}},
		{FaultSlow, func(t *testing.T) {
			wantOK(t, models(impatient))
			start := time.Now()
			if got, _ := answer(t, chat(patient, "2+2")); got != "4" {
				t.Errorf("answer %q", got)
			}
			if d := time.Since(start); d < 300*time.Millisecond {
				t.Errorf("slow answer came after %v, before the 300ms delay", d)
			}
		}},
		{Fault500, everywhere(func(t *testing.T, r result) {
			if r.err != nil || r.resp.StatusCode != 500 || r.resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("want JSON 500, got %v %v", r.resp, r.err)
			}
			var e apiError
			if json.Unmarshal(r.body, &e) != nil || e.Error.Message == "" {
				t.Errorf("body %s", r.body)
			}
		})},
		{FaultWrong, func(t *testing.T) {
			if got, _ := answer(t, chat(patient, "2+2")); got != "5" {
				t.Errorf("answer %q, want 5", got)
			}
		}},
		{FaultFourteen, func(t *testing.T) {
			if got, _ := answer(t, chat(patient, "2+2")); got != "14" {
				t.Errorf("answer %q, want 14", got)
			}
		}},
		{FaultEmpty, everywhere(func(t *testing.T, r result) {
			if r.err != nil || r.resp.StatusCode != 200 || len(r.body) != 0 {
				t.Fatalf("want empty 200, got %v %q %v", r.resp, r.body, r.err)
			}
		})},
		{FaultHTML, everywhere(func(t *testing.T, r result) {
			wantOK(t, r)
			if ct := r.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(r.body), "<html>") {
				t.Errorf("content type %q body %q", ct, r.body)
			}
			if r.resp.Header.Get("x-council-simulator") != "true" {
				t.Error("missing x-council-simulator header")
			}
		})},
		{FaultGarbage, func(t *testing.T) {
			got, toks := answer(t, chat(patient, "2+2"))
			if strings.Contains(got, "4") || len(toks) == 0 {
				t.Errorf("garbage answer %q tokens %q", got, toks)
			}
			bad := 0
			for _, r := range got {
				if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
					bad++
				}
			}
			if bad == 0 {
				t.Errorf("garbage answer %q has only printable runes", got)
			}
		}},
		{FaultDiverge, func(t *testing.T) {
			got, toks := answer(t, chat(patient, "parity check"))
			want := Tokenize("alpha beta gamma delta epsilon")
			common := 0
			for common < len(toks) && common < len(want) && toks[common] == want[common] {
				common++
			}
			if common != 2 || len(toks) != len(want) {
				t.Errorf("diverged answer %q: tokens %q, common prefix %d, want 2 of %d", got, toks, common, len(want))
			}
			// An answer shorter than the divergence point still diverges.
			got, toks = answer(t, chat(patient, "2+2"))
			if len(toks) < 2 || toks[0] != "4" || got == "4" {
				t.Errorf("short diverged answer %q tokens %q", got, toks)
			}
		}},
		// sse_stall and no_done only touch streams; JSON chat is normal.
		{FaultSSEStall, func(t *testing.T) {
			if got, _ := answer(t, chat(patient, "2+2")); got != "4" {
				t.Errorf("answer %q", got)
			}
		}},
		{FaultNoDone, func(t *testing.T) {
			if got, _ := answer(t, chat(patient, "2+2")); got != "4" {
				t.Errorf("answer %q", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			if err := sim.SetFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			if got := sim.Fault(); got != tt.fault {
				t.Fatalf("Fault() = %q", got)
			}
			tt.check(t)
		})
	}
}

func TestStreamFaults(t *testing.T) {
	sim := startSim(t, Config{Answers: map[string]string{"story": "once upon a time"}})
	streamChat := func(t *testing.T, timeout time.Duration) stream {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		b, _ := json.Marshal(userChat("a story", chatBody{"stream": true}))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sim.PlainURL()+"/v1/chat/completions", bytes.NewReader(b))
		resp, err := newClient(0, nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return readStream(t, resp.Body)
	}

	t.Run("sse_stall", func(t *testing.T) {
		if err := sim.SetFault(FaultSSEStall); err != nil {
			t.Fatal(err)
		}
		s := streamChat(t, hangTimeout)
		if !errors.Is(s.err, context.DeadlineExceeded) {
			t.Errorf("stream read error %v, want the client's deadline", s.err)
		}
		if s.chunks < 2 || s.content == "" || s.content == "once upon a time" || s.done || s.finish != "" {
			t.Errorf("stalled stream: %d chunks, content %q, done %v, finish %q", s.chunks, s.content, s.done, s.finish)
		}
	})
	t.Run("sse_stall on a one-token answer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
		defer cancel()
		b, _ := json.Marshal(userChat("2+2", chatBody{"stream": true}))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sim.PlainURL()+"/v1/chat/completions", bytes.NewReader(b))
		resp, err := newClient(0, nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		s := readStream(t, resp.Body)
		if !errors.Is(s.err, context.DeadlineExceeded) || s.done || s.content != "4" {
			t.Errorf("stream err %v done %v content %q", s.err, s.done, s.content)
		}
	})
	t.Run("no_done", func(t *testing.T) {
		if err := sim.SetFault(FaultNoDone); err != nil {
			t.Fatal(err)
		}
		s := streamChat(t, 10*time.Second)
		if s.err != nil || s.done || s.content != "once upon a time" || s.finish != "stop" {
			t.Errorf("stream err %v done %v content %q finish %q", s.err, s.done, s.content, s.finish)
		}
	})
	t.Run("none again", func(t *testing.T) {
		if err := sim.SetFault(FaultNone); err != nil {
			t.Fatal(err)
		}
		s := streamChat(t, 10*time.Second)
		if s.err != nil || !s.done || s.content != "once upon a time" {
			t.Errorf("stream err %v done %v content %q", s.err, s.done, s.content)
		}
	})
}

func TestDownAndUp(t *testing.T) {
	sim := startSim(t, Config{Token: "tok"})
	c := newClient(10*time.Second, nil) // one client: pooled connections must not survive "down"
	plain := sim.PlainURL()
	check := func(t *testing.T, wantUp bool) {
		t.Helper()
		resp, _, err := get(c, plain+"/v1/models", "Authorization", "Bearer tok")
		if wantUp {
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("want 200, got %v %v", resp, err)
			}
			return
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("want connection refused, got %v %v", resp, err)
		}
	}
	check(t, true)
	if err := sim.SetFault(FaultDown); err != nil {
		t.Fatal(err)
	}
	check(t, false)
	if st := sim.State(); st.Up || st.PlainURL != plain {
		t.Errorf("state while down: %+v", st)
	}
	if _, b, err := get(c, sim.ControlURL()+"/state"); err != nil || !strings.Contains(string(b), `"up":false`) {
		t.Errorf("control while down: %s %v", b, err)
	}
	if err := sim.SetFault(FaultNone); err != nil {
		t.Fatal(err)
	}
	if sim.PlainURL() != plain {
		t.Errorf("came back on %s, want %s", sim.PlainURL(), plain)
	}
	check(t, true)
}

func TestStartDown(t *testing.T) {
	sim := startSim(t, Config{Fault: FaultDown})
	if sim.PlainURL() == "" {
		t.Fatal("no URL for a simulator started down")
	}
	c := newClient(10*time.Second, nil)
	if _, _, err := get(c, sim.PlainURL()+"/v1/models"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want connection refused, got %v", err)
	}
	if err := sim.SetFault(FaultWrong); err != nil {
		t.Fatal(err)
	}
	if resp, _, err := get(c, sim.PlainURL()+"/v1/models"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after up: %v %v", resp, err)
	}
}

func TestControlEndpoint(t *testing.T) {
	sim := startSim(t, Config{})
	c := newClient(10*time.Second, nil)
	control := func(body string) (int, State) {
		t.Helper()
		resp, err := c.Post(sim.ControlURL()+"/fault", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st State
		if resp.StatusCode == 200 {
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatal(err)
			}
		}
		if resp.Header.Get("x-council-simulator") != "true" {
			t.Error("control response lacks x-council-simulator header")
		}
		return resp.StatusCode, st
	}

	tests := []struct {
		name       string
		body       string
		wantStatus int
		want       State // fault, slow delay, diverge_after, up
	}{
		{"set wrong", `{"fault":"wrong"}`, 200, State{Fault: FaultWrong, SlowDelay: Duration(DefaultSlowDelay), DivergeAfter: DefaultDivergeAfter, Up: true}},
		{"set slow with delay", `{"fault":"slow","slow_delay":"2s"}`, 200, State{Fault: FaultSlow, SlowDelay: Duration(2 * time.Second), DivergeAfter: DefaultDivergeAfter, Up: true}},
		{"diverge_after alone keeps the fault", `{"diverge_after":7}`, 200, State{Fault: FaultSlow, SlowDelay: Duration(2 * time.Second), DivergeAfter: 7, Up: true}},
		{"down", `{"fault":"down"}`, 200, State{Fault: FaultDown, SlowDelay: Duration(2 * time.Second), DivergeAfter: 7, Up: false}},
		{"unknown fault", `{"fault":"melt"}`, 400, State{}},
		{"unknown field", `{"faults":"hang"}`, 400, State{}},
		{"bad duration", `{"slow_delay":5}`, 400, State{}},
		{"none", `{"fault":"none"}`, 200, State{Fault: FaultNone, SlowDelay: Duration(2 * time.Second), DivergeAfter: 7, Up: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, st := control(tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d", status, tt.wantStatus)
			}
			if status != 200 {
				return
			}
			if st.Fault != tt.want.Fault || st.SlowDelay != tt.want.SlowDelay || st.DivergeAfter != tt.want.DivergeAfter || st.Up != tt.want.Up {
				t.Errorf("state %+v, want %+v", st, tt.want)
			}
			if st.PlainURL != sim.PlainURL() || st.ControlURL != sim.ControlURL() {
				t.Errorf("state URLs %q %q", st.PlainURL, st.ControlURL)
			}
		})
	}

	// The switch is real: a client sees it.
	if status, _ := control(`{"fault":"fourteen"}`); status != 200 {
		t.Fatal(status)
	}
	_, b, err := post(c, sim.PlainURL(), userChat("2+2", nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := *decodeChat(t, b).Choices[0].Message.Content; got != "14" {
		t.Errorf("answer after control switch %q, want 14", got)
	}
	resp, b, err := get(c, sim.ControlURL()+"/state")
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil || st.Fault != FaultFourteen || st.Requests != 1 {
		t.Errorf("GET /state %s (%v)", b, err)
	}
}
