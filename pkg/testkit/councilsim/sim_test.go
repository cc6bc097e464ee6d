package councilsim

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/testpki"
)

// hangTimeout is how long a client waits before deciding a request hangs.
// Generous enough for a loaded machine; a hang is forever anyway.
const hangTimeout = 750 * time.Millisecond

func startSim(t *testing.T, cfg Config) *Sim {
	t.Helper()
	if cfg.ControlAddr == "" {
		cfg.ControlAddr = "127.0.0.1:0"
	}
	sim := New(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func newClient(timeout time.Duration, tlsCfg *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &http.Client{Timeout: timeout, Transport: tr}
}

type chatBody = map[string]any

func userChat(prompt string, extra chatBody) chatBody {
	b := chatBody{"messages": []map[string]string{{"role": "user", "content": prompt}}}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func post(c *http.Client, url string, body any, hdr ...string) (*http.Response, []byte, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(c, req)
}

func get(c *http.Client, url string, hdr ...string) (*http.Response, []byte, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(c, req)
}

func do(c *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func decodeChat(t *testing.T, b []byte) chatResponse {
	t.Helper()
	var r chatResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode chat response %q: %v", b, err)
	}
	if len(r.Choices) != 1 || r.Choices[0].Message == nil || r.Choices[0].Message.Content == nil || r.Choices[0].FinishReason == nil {
		t.Fatalf("chat response lacks choices[0].message.content or finish_reason: %s", b)
	}
	return r
}

// stream is what a client read from an SSE chat response.
type stream struct {
	content  string
	tokens   []string // from logprobs
	chunks   int
	finish   string
	usage    *usage
	done     bool // saw data: [DONE]
	afterEnd bool // saw data after [DONE]
	err      error
}

func readStream(t *testing.T, r io.Reader) stream {
	t.Helper()
	var s stream
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("SSE line without data prefix: %q", line)
		}
		if s.done {
			s.afterEnd = true
		}
		if data == "[DONE]" {
			s.done = true
			continue
		}
		var c chatResponse
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("SSE chunk %q: %v", data, err)
		}
		if c.Object != "chat.completion.chunk" {
			t.Errorf("chunk object = %q", c.Object)
		}
		s.chunks++
		if c.Usage != nil {
			s.usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta == nil {
				t.Fatalf("chunk without delta: %s", data)
			}
			if ch.Delta.Content != nil {
				s.content += *ch.Delta.Content
			}
			if ch.FinishReason != nil {
				s.finish = *ch.FinishReason
			}
			if ch.Logprobs != nil {
				for _, lp := range ch.Logprobs.Content {
					s.tokens = append(s.tokens, lp.Token)
				}
			}
		}
	}
	s.err = sc.Err()
	return s
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func TestModels(t *testing.T) {
	tests := []struct {
		name   string
		models []string
		want   []string
	}{
		{"default", nil, []string{DefaultModel}},
		{"configured", []string{"m1", "m2"}, []string{"m1", "m2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, Config{Models: tt.models})
			resp, b, err := get(newClient(10*time.Second, nil), sim.PlainURL()+"/v1/models")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if resp.Header.Get("x-council-simulator") != "true" {
				t.Errorf("missing x-council-simulator header")
			}
			var list struct {
				Object string `json:"object"`
				Data   []struct {
					ID     string `json:"id"`
					Object string `json:"object"`
				} `json:"data"`
			}
			if err := json.Unmarshal(b, &list); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range list.Data {
				if m.Object != "model" {
					t.Errorf("model object = %q", m.Object)
				}
				got = append(got, m.ID)
			}
			if list.Object != "list" || strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got object %q ids %v, want list %v", list.Object, got, tt.want)
			}
		})
	}
}

func TestChatJSON(t *testing.T) {
	sim := startSim(t, Config{
		Models:        []string{"m1", "m2"},
		Answers:       map[string]string{"capital": "Paris", "capital of Italy": "Rome", "sum": "a, b = c"},
		DefaultAnswer: "no idea at all",
	})
	c := newClient(10*time.Second, nil)
	tests := []struct {
		name       string
		body       chatBody
		wantStatus int
		want       string
		wantModel  string
		wantFinish string
		wantTokens []string // logprobs tokens, when requested
	}{
		{name: "two plus two", body: userChat("What is 2+2? Respond with only the number.", nil), wantStatus: 200, want: "4", wantModel: "m1", wantFinish: "stop"},
		{name: "configured answer", body: userChat("the capital of France?", nil), wantStatus: 200, want: "Paris", wantFinish: "stop"},
		{name: "longest substring wins", body: userChat("the capital of Italy?", nil), wantStatus: 200, want: "Rome", wantFinish: "stop"},
		{name: "default answer", body: userChat("hello", chatBody{"model": "m2"}), wantStatus: 200, want: "no idea at all", wantModel: "m2", wantFinish: "stop"},
		{name: "content parts", body: chatBody{"messages": []any{map[string]any{"role": "user", "content": []any{map[string]string{"type": "text", "text": "2+2"}}}}}, wantStatus: 200, want: "4", wantFinish: "stop"},
		{name: "last user message counts", body: chatBody{"messages": []map[string]string{{"role": "system", "content": "capital"}, {"role": "user", "content": "2+2"}}}, wantStatus: 200, want: "4", wantFinish: "stop"},
		{name: "max_tokens truncates", body: userChat("hello", chatBody{"max_tokens": 2}), wantStatus: 200, want: "no idea", wantFinish: "length"},
		{name: "logprobs tokens", body: userChat("sum", chatBody{"logprobs": true}), wantStatus: 200, want: "a, b = c", wantFinish: "stop", wantTokens: []string{"a,", " b", " =", " c"}},
		{name: "unknown model", body: userChat("2+2", chatBody{"model": "gpt-9"}), wantStatus: 404},
		{name: "no messages", body: chatBody{"messages": []any{}}, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b, err := post(c, sim.PlainURL(), tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			if tt.wantStatus != 200 {
				var e apiError
				if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" || e.Error.Code != tt.wantStatus {
					t.Errorf("error body %s (%v), want a JSON error", b, err)
				}
				return
			}
			r := decodeChat(t, b)
			ch := r.Choices[0]
			if got := *ch.Message.Content; got != tt.want {
				t.Errorf("content %q, want %q", got, tt.want)
			}
			if *ch.FinishReason != tt.wantFinish {
				t.Errorf("finish_reason %q, want %q", *ch.FinishReason, tt.wantFinish)
			}
			if tt.wantModel != "" && r.Model != tt.wantModel {
				t.Errorf("model %q, want %q", r.Model, tt.wantModel)
			}
			if r.Object != "chat.completion" || r.ID == "" {
				t.Errorf("object %q id %q", r.Object, r.ID)
			}
			if r.Usage == nil || r.Usage.CompletionTokens != len(Tokenize(tt.want)) || r.Usage.PromptTokens == 0 ||
				r.Usage.TotalTokens != r.Usage.PromptTokens+r.Usage.CompletionTokens {
				t.Errorf("usage %+v", r.Usage)
			}
			if tt.wantTokens != nil {
				if ch.Logprobs == nil {
					t.Fatal("no logprobs")
				}
				var got []string
				for _, lp := range ch.Logprobs.Content {
					got = append(got, lp.Token)
				}
				if strings.Join(got, "|") != strings.Join(tt.wantTokens, "|") {
					t.Errorf("logprobs tokens %q, want %q", got, tt.wantTokens)
				}
			} else if ch.Logprobs != nil {
				t.Error("logprobs present though not requested")
			}
		})
	}
	if got := sim.Requests(); got != len(tests) {
		t.Errorf("Requests() = %d, want %d", got, len(tests))
	}
}

func TestChatStream(t *testing.T) {
	sim := startSim(t, Config{Answers: map[string]string{"story": "once upon a time"}})
	c := newClient(10*time.Second, nil)
	tests := []struct {
		name       string
		body       chatBody
		want       string
		wantFinish string
		wantUsage  bool
		wantTokens []string
	}{
		{name: "two plus two", body: userChat("2+2", chatBody{"stream": true}), want: "4", wantFinish: "stop"},
		{name: "several tokens with logprobs", body: userChat("a story", chatBody{"stream": true, "logprobs": true}), want: "once upon a time", wantFinish: "stop",
			wantTokens: []string{"once", " upon", " a", " time"}},
		{name: "usage chunk", body: userChat("a story", chatBody{"stream": true, "stream_options": chatBody{"include_usage": true}}), want: "once upon a time", wantFinish: "stop", wantUsage: true},
		{name: "max_tokens", body: userChat("a story", chatBody{"stream": true, "max_tokens": 3}), want: "once upon a", wantFinish: "length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(tt.body)
			resp, err := c.Post(sim.PlainURL()+"/v1/chat/completions", "application/json", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			s := readStream(t, resp.Body)
			if s.err != nil || !s.done || s.afterEnd {
				t.Errorf("stream err %v, done %v, data after [DONE] %v", s.err, s.done, s.afterEnd)
			}
			if s.content != tt.want || s.finish != tt.wantFinish {
				t.Errorf("content %q finish %q, want %q %q", s.content, s.finish, tt.want, tt.wantFinish)
			}
			if (s.usage != nil) != tt.wantUsage {
				t.Errorf("usage chunk %+v, want present=%v", s.usage, tt.wantUsage)
			} else if s.usage != nil && s.usage.CompletionTokens != 4 {
				t.Errorf("usage %+v", s.usage)
			}
			if tt.wantTokens != nil && strings.Join(s.tokens, "|") != strings.Join(tt.wantTokens, "|") {
				t.Errorf("logprobs tokens %q, want %q", s.tokens, tt.wantTokens)
			}
		})
	}
}

func TestBearer(t *testing.T) {
	sim := startSim(t, Config{Token: "s3cret-token"})
	c := newClient(10*time.Second, nil)
	tests := []struct {
		name   string
		auth   string
		path   string
		status int
	}{
		{"models without token", "", "/v1/models", 401},
		{"models wrong token", "Bearer nope", "/v1/models", 401},
		{"models token without scheme", "s3cret-token", "/v1/models", 401},
		{"models right token", "Bearer s3cret-token", "/v1/models", 200},
		{"chat without token", "", "chat", 401},
		{"chat wrong token", "Bearer s3cret-tokenX", "chat", 401},
		{"chat right token", "Bearer s3cret-token", "chat", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			var (
				resp *http.Response
				b    []byte
				err  error
			)
			if tt.path == "chat" {
				resp, b, err = post(c, sim.PlainURL(), userChat("2+2", nil), hdr...)
			} else {
				resp, b, err = get(c, sim.PlainURL()+tt.path, hdr...)
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if resp.Header.Get("x-council-simulator") != "true" {
				t.Error("missing x-council-simulator header")
			}
			if tt.status == 401 {
				var e apiError
				if json.Unmarshal(b, &e) != nil || e.Error.Type != "authentication_error" {
					t.Errorf("401 body %s", b)
				}
				if strings.Contains(string(b), "s3cret") {
					t.Error("401 body leaks the token")
				}
			}
		})
	}
}

func TestMTLS(t *testing.T) {
	ca, err := testpki.NewCA("sim test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testpki.NewCA("wrong CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueKeyPair(testpki.IssueOpts{CommonName: "council-sim", Server: true})
	if err != nil {
		t.Fatal(err)
	}
	good, err := ca.IssueKeyPair(testpki.IssueOpts{CommonName: "canary", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.IssueKeyPair(testpki.IssueOpts{CommonName: "canary", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	// The mTLS listener runs beside a bearer-protected plain one and does not
	// ask for the token: the client certificate is the credential.
	sim := startSim(t, Config{Token: "tok", MTLSAddr: "127.0.0.1:0", ServerCert: &server, ClientCAs: ca.Pool()})
	if !strings.HasPrefix(sim.MTLSURL(), "https://127.0.0.1:") || !strings.HasPrefix(sim.PlainURL(), "http://127.0.0.1:") {
		t.Fatalf("urls %q %q", sim.MTLSURL(), sim.PlainURL())
	}
	tests := []struct {
		name   string
		certs  []tls.Certificate
		wantOK bool
	}{
		{"good client cert", []tls.Certificate{good}, true},
		{"no client cert", nil, false},
		{"client cert from another CA", []tls.Certificate{foreign}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(10*time.Second, &tls.Config{RootCAs: ca.Pool(), Certificates: tt.certs})
			resp, b, err := post(c, sim.MTLSURL(), userChat("2+2", nil))
			if !tt.wantOK {
				if err == nil {
					t.Fatalf("request succeeded with status %d, want a TLS failure", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || *decodeChat(t, b).Choices[0].Message.Content != "4" {
				t.Errorf("status %d body %s", resp.StatusCode, b)
			}
		})
	}
}

// syncBuffer is an io.Writer tests can read while the simulator writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAccessLogExactFormat(t *testing.T) {
	var log syncBuffer
	fixed := time.Date(2026, 11, 27, 1, 2, 3, 456_000_000, time.FixedZone("CET", 3600))
	sim := startSim(t, Config{AccessLog: &log, Token: "tok", Now: func() time.Time { return fixed }})
	c := newClient(10*time.Second, nil)
	if _, _, err := post(c, sim.PlainURL(), userChat("2+2", nil), "Authorization", "Bearer tok"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(c, sim.PlainURL()+"/v1/models"); err != nil {
		t.Fatal(err)
	}
	want := "2026-11-27T00:02:03.456Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=0\n" +
		"2026-11-27T00:02:03.456Z INFO request completed method=GET path=/v1/models status=401 duration_ms=0\n"
	waitFor(t, "two access log lines", func() bool { return strings.Count(log.String(), "\n") >= 2 })
	if got := log.String(); got != want {
		t.Errorf("access log:\n%s\nwant:\n%s", got, want)
	}
}

func TestAccessLogRealClockAndCanceled(t *testing.T) {
	var log syncBuffer
	sim := startSim(t, Config{AccessLog: &log})
	before := time.Now().UTC().Truncate(time.Millisecond)
	if _, _, err := get(newClient(10*time.Second, nil), sim.PlainURL()+"/v1/models"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "access log line", func() bool { return strings.Contains(log.String(), "\n") })
	line := strings.TrimSuffix(log.String(), "\n")
	ts, rest, _ := strings.Cut(line, " ")
	at, err := time.Parse("2006-01-02T15:04:05.000Z07:00", ts)
	if err != nil || len(ts) != len("2026-11-27T01:02:03.456Z") {
		t.Fatalf("timestamp %q: %v", ts, err)
	}
	if at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("timestamp %v not between %v and now", at, before)
	}
	if !strings.HasPrefix(rest, "INFO request completed method=GET path=/v1/models status=200 duration_ms=") {
		t.Errorf("line %q", line)
	}

	// An abandoned request did not complete and must not say so.
	if err := sim.SetFault(FaultHang); err != nil {
		t.Fatal(err)
	}
	if _, _, err := post(newClient(hangTimeout, nil), sim.PlainURL(), userChat("2+2", nil)); !isTimeout(err) {
		t.Fatalf("hung request: err %v, want timeout", err)
	}
	waitFor(t, "canceled line", func() bool { return strings.Contains(log.String(), "request canceled") })
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], " WARN request canceled method=POST path=/v1/chat/completions ") {
		t.Errorf("lines %q", lines)
	}
}

// TestCloseReleasesHangs checks that a handler stuck in a hang does not keep
// Close waiting: tests must shut down cleanly.
func TestCloseReleasesHangs(t *testing.T) {
	sim := New(Config{Fault: FaultHang})
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, _, err := post(newClient(0, nil), sim.PlainURL(), userChat("2+2", nil))
		errc <- err
	}()
	waitFor(t, "chat request to reach the handler", func() bool { return sim.Requests() == 1 })
	closed := make(chan struct{})
	go func() { sim.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked by a hanging request")
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Error("hung request succeeded after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client still waiting after Close")
	}
	if err := sim.SetFault(FaultNone); err == nil {
		t.Error("SetFault after Close: want error")
	}
}

// TestSayWritesItsLinesOnceServing: --say lines reach the access log as
// they are, before any request.
func TestSayWritesItsLinesOnceServing(t *testing.T) {
	var log syncBuffer
	lines := []string{"x.service: Main process exited, code=killed, status=9/KILL", "x.service: Failed with result 'oom-kill'."}
	startSim(t, Config{AccessLog: &log, Say: lines})
	if got, want := log.String(), strings.Join(lines, "\n")+"\n"; got != want {
		t.Errorf("access log %q, want %q", got, want)
	}
}
