package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/server/transport"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

// testToken is not shaped like a key (no "sk-", no "Bearer" in front when
// echoed alone), so only its registration with redact can mask it.
const testToken = "planted7TOKEN4value9"

// client returns a bearer client for url with the token in a real 0600
// file (reading it registers it with redact, as in production).
func client(t *testing.T, url string) *Client {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "council.token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tc, err := transport.Resolve(transport.Config{Mode: transport.Bearer, URL: url, TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	return New(tc)
}

func startSim(t *testing.T, cfg councilsim.Config) *councilsim.Sim {
	t.Helper()
	cfg.Token = testToken
	sim := councilsim.New(cfg)
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// serve answers every request with h, after reading the request body (as
// a real server does: until then Go's server cannot see the client leave).
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// raw answers with status, content type and body as given.
func raw(status int, ctype, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// sse answers with a text/event-stream body written in pieces, flushing
// after each and waiting gap between them.
func sse(gap time.Duration, pieces ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for i, p := range pieces {
			if i > 0 && gap > 0 {
				select {
				case <-time.After(gap):
				case <-r.Context().Done():
					return
				}
			}
			io.WriteString(w, p)
			w.(http.Flusher).Flush()
		}
	}
}

func TestServedRule(t *testing.T) {
	list := func(ids ...string) Models {
		var m Models
		for _, id := range ids {
			m.Data = append(m.Data, Model{ID: id})
		}
		return m
	}
	tests := []struct {
		name    string
		models  Models
		want    string
		got     string
		wantErr error
	}{
		{"first listed", list("a", "b"), "", "a", nil},
		{"first non-empty, not first entry", list("", "b"), "", "b", nil},
		{"wanted and listed", list("a", "b"), "b", "b", nil},
		{"wanted, not listed", list("a", "b"), "c", "", ErrModelNotListed},
		{"empty list", list(), "", "", ErrNoModels},
		{"only empty ids", list("", ""), "a", "", ErrNoModels},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.models.Served(tc.want)
			if got != tc.got || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Served(%q) = %q, %v; want %q, %v", tc.want, got, err, tc.got, tc.wantErr)
			}
		})
	}
}

func TestListModelsAgainstTheSimulator(t *testing.T) {
	sim := startSim(t, councilsim.Config{Models: []string{"m1", "m2"}})
	c := client(t, sim.PlainURL())
	id, m, err := c.ServedModel(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if id != "m1" || strings.Join(m.IDs(), ",") != "m1,m2" {
		t.Fatalf("served %q of %v, want m1 of m1,m2", id, m.IDs())
	}
	_, _, err = c.ServedModel(context.Background(), "m3")
	var e *Error
	if !errors.As(err, &e) || e.Class != BadResponse || !errors.Is(err, ErrModelNotListed) || !strings.Contains(err.Error(), `"m3" (serving m1, m2)`) {
		t.Fatalf("want m3 = BadResponse naming the listed ids, got %v", err)
	}
}

func TestChatAgainstTheSimulator(t *testing.T) {
	sim := startSim(t, councilsim.Config{})
	c := client(t, sim.PlainURL())
	req := UserPrompt(councilsim.DefaultModel, "What is 2+2?", 16)
	seed := int64(7)
	req.Seed, req.Logprobs = &seed, true
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			var res ChatResult
			var err error
			if stream {
				res, err = c.ChatStream(context.Background(), req)
			} else {
				res, err = c.Chat(context.Background(), req)
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Answer != "4" || res.FinishReason != "stop" || res.Model != councilsim.DefaultModel || res.Status != 200 {
				t.Fatalf("got %+v", res)
			}
			if res.CompletionTokens != 1 || res.PromptTokens <= 0 || res.TokensCounted {
				t.Fatalf("usage: prompt %d completion %d counted %v; want the server's counts", res.PromptTokens, res.CompletionTokens, res.TokensCounted)
			}
			if strings.Join(res.LogprobTokens, "") != "4" {
				t.Fatalf("logprob tokens %q, want [4]", res.LogprobTokens)
			}
			tm := res.Timings
			stages := []struct {
				name string
				at   time.Time
			}{{"start", tm.Start}, {"connected", tm.Connected}, {"first byte", tm.FirstByte}, {"first token", tm.FirstToken}, {"last token", tm.LastToken}, {"end", tm.End}}
			for i, s := range stages {
				if s.at.IsZero() {
					t.Fatalf("timing %s missing: %+v", s.name, tm)
				}
				if i > 0 && s.at.Before(stages[i-1].at) {
					t.Fatalf("timing %s (%v) before %s (%v)", s.name, s.at, stages[i-1].name, stages[i-1].at)
				}
			}
		})
	}
}

func TestStreamTimingsAndGaps(t *testing.T) {
	url := serve(t, sse(0,
		"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\" b\"}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"))
	res, err := client(t, url).ChatStream(context.Background(), UserPrompt("m", "q", 8))
	if err != nil {
		t.Fatal(err)
	}
	tm := res.Timings
	// Three token events (reasoning, a, b): two gaps.
	if tm.GapCount != 2 || len(tm.Gaps) != 2 {
		t.Fatalf("gaps: count %d, kept %d; want 2", tm.GapCount, len(tm.Gaps))
	}
	for _, g := range tm.Gaps {
		if g < 0 || g > tm.MaxGap {
			t.Fatalf("gap %v outside [0, max gap %v]", g, tm.MaxGap)
		}
	}
	if tm.FirstContent.Before(tm.FirstToken) || tm.LastToken.Before(tm.FirstContent) {
		t.Fatalf("first token %v, first content %v, last %v: out of order", tm.FirstToken, tm.FirstContent, tm.LastToken)
	}
	if tm.TTFT() < tm.TTFB() || tm.Total() < tm.TTFT() {
		t.Fatalf("TTFB %v, TTFT %v, total %v: out of order", tm.TTFB(), tm.TTFT(), tm.Total())
	}
}

// TestStreamFraming reads streams framed every way the SSE format allows
// and OpenAI-compatible servers send.
func TestStreamFraming(t *testing.T) {
	const (
		role   = `{"model":"m9","choices":[{"delta":{"role":"assistant","content":""}}]}`
		four   = `{"choices":[{"delta":{"content":"4"}}]}`
		stop   = `{"choices":[{"delta":{},"finish_reason":"stop"}]}`
		usage  = `{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}`
		think  = `{"choices":[{"delta":{"reasoning_content":"let me see"}}]}`
		think2 = `{"choices":[{"delta":{"reasoning":"ok"}}]}`
	)
	frame := func(eol string, events ...string) string {
		var b strings.Builder
		for _, e := range events {
			b.WriteString("data: " + e + eol + eol)
		}
		return b.String()
	}
	tests := []struct {
		name                 string
		body                 string
		answer               string
		chunks, comments     int
		completion           int
		counted              bool
		reasoningBytes       int
		wantErr              error // nil: success
		model, finish, class string
	}{
		{name: "LF", body: frame("\n", role, four, stop, "[DONE]"), answer: "4", chunks: 3, completion: 1, counted: true, model: "m9", finish: "stop"},
		{name: "CRLF", body: frame("\r\n", role, four, stop, "[DONE]"), answer: "4", chunks: 3, completion: 1, counted: true, model: "m9", finish: "stop"},
		{name: "bare CR", body: frame("\r", role, four, stop, "[DONE]"), answer: "4", chunks: 3, completion: 1, counted: true, model: "m9", finish: "stop"},
		{name: "data:x without a space", body: "data:" + four + "\n\ndata:" + stop + "\n\ndata:[DONE]\n\n", answer: "4", chunks: 2, completion: 1, counted: true, finish: "stop"},
		{name: "comments and keep-alives counted", body: ": ping\n\n" + frame("\n", four) + ":\n\n: keep-alive\n\n" + frame("\n", stop, "[DONE]"), answer: "4", chunks: 2, comments: 3, completion: 1, counted: true, finish: "stop"},
		{name: "usage chunk gives the counts", body: frame("\n", four, stop, usage, "[DONE]"), answer: "4", chunks: 3, completion: 3, finish: "stop"},
		{name: "reasoning fields measured, not the answer", body: frame("\n", think, think2, four, stop, "[DONE]"), answer: "4", chunks: 4, completion: 3, counted: true, reasoningBytes: len("let me see") + len("ok"), finish: "stop"},
		{name: "inline think cut from the answer", body: frame("\n", `{"choices":[{"delta":{"content":"<think>hm</think>"}}]}`, four, stop, "[DONE]"), answer: "4", chunks: 3, completion: 2, counted: true, reasoningBytes: len("<think>hm</think>"), finish: "stop"},
		{name: "missing [DONE]", body: frame("\n", four, stop), answer: "4", chunks: 2, completion: 1, counted: true, finish: "stop", wantErr: ErrNoDone},
		{name: "missing finish_reason", body: frame("\n", four, "[DONE]"), answer: "4", chunks: 1, completion: 1, counted: true, wantErr: ErrNoFinishReason},
		{name: "chunk not JSON", body: frame("\n", four, "{nope", "[DONE]"), answer: "4", chunks: 2, completion: 1, counted: true, wantErr: ErrNotJSON},
		{name: "error chunk", body: frame("\n", `{"error":{"message":"overloaded"}}`, "[DONE]"), chunks: 1, completion: 0, counted: true, wantErr: ErrServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(t, raw(200, "text/event-stream", tc.body))
			res, err := client(t, url).ChatStream(context.Background(), UserPrompt("m", "q", 8))
			if tc.wantErr == nil && err != nil {
				t.Fatalf("error %v", err)
			}
			if tc.wantErr != nil {
				var e *Error
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &e) || e.Class != BadResponse {
					t.Fatalf("error %v, want a bad_response wrapping %v", err, tc.wantErr)
				}
			}
			if res.Answer != tc.answer || res.Chunks != tc.chunks || res.Comments != tc.comments ||
				res.CompletionTokens != tc.completion || res.TokensCounted != tc.counted ||
				res.ReasoningBytes != tc.reasoningBytes || res.Model != tc.model || res.FinishReason != tc.finish {
				t.Fatalf("got answer %q chunks %d comments %d completion %d counted %v reasoning %d model %q finish %q\nwant %q %d %d %d %v %d %q %q",
					res.Answer, res.Chunks, res.Comments, res.CompletionTokens, res.TokensCounted, res.ReasoningBytes, res.Model, res.FinishReason,
					tc.answer, tc.chunks, tc.comments, tc.completion, tc.counted, tc.reasoningBytes, tc.model, tc.finish)
			}
		})
	}
}

// TestErrorClasses: every way a request fails has its class, and no error
// string carries the token, even from a server that echoes it.
func TestErrorClasses(t *testing.T) {
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprintf(w, "you sent %s; token %s", r.Header.Get("Authorization"), strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		}
	}
	hangFor := func(d time.Duration) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
			}
		}
	}
	closed := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + l.Addr().String()
		l.Close()
		return url
	}
	tests := []struct {
		name    string
		url     func(t *testing.T) string
		stream  bool
		limits  Limits
		timeout time.Duration
		class   Class
		status  int
		limit   Limit
		detail  string
	}{
		{name: "refused", url: closed, class: Unreachable, detail: "refused"},
		{name: "no header within TTFB", url: func(t *testing.T) string { return serve(t, hangFor(10*time.Second)) },
			limits: Limits{TTFB: 100 * time.Millisecond}, class: Hang, limit: LimitTTFB, detail: "no response header within 100ms"},
		{name: "no header by the deadline", url: func(t *testing.T) string { return serve(t, hangFor(10*time.Second)) },
			timeout: 100 * time.Millisecond, class: Hang, limit: LimitDeadline, detail: "no response within the deadline"},
		{name: "500", url: func(t *testing.T) string { return serve(t, echo(500)) }, class: HTTPError, status: 500, detail: "HTTP 500: you sent Bearer [redacted]"},
		{name: "401", url: func(t *testing.T) string { return serve(t, echo(401)) }, class: Auth, status: 401, detail: "HTTP 401"},
		{name: "403", url: func(t *testing.T) string { return serve(t, echo(403)) }, class: Auth, status: 403, detail: "HTTP 403"},
		{name: "HTML 200", url: func(t *testing.T) string { return serve(t, raw(200, "text/html", "<html>portal</html>")) }, class: BadResponse, status: 200, detail: "HTML page"},
		{name: "empty 200", url: func(t *testing.T) string { return serve(t, raw(200, "application/json", "")) }, class: BadResponse, status: 200, detail: "empty body"},
		{name: "stream stall", url: func(t *testing.T) string {
			return serve(t, sse(10*time.Second, "data: {\"choices\":[{\"delta\":{\"content\":\"4\"}}]}\n\n", "data: [DONE]\n\n"))
		}, stream: true, limits: Limits{Stall: 100 * time.Millisecond}, class: StreamStall, status: 200, limit: LimitStall, detail: "no event for 100ms after 1 chunk(s)"},
		{name: "stream past the deadline", url: func(t *testing.T) string {
			return serve(t, sse(10*time.Second, "data: {\"choices\":[{\"delta\":{\"content\":\"4\"}}]}\n\n", "data: [DONE]\n\n"))
		}, stream: true, timeout: 150 * time.Millisecond, class: Hang, status: 200, limit: LimitDeadline, detail: "stream not finished within the deadline (1 chunk(s) so far)"},
		{name: "keep-alives do not hold off the stall limit", url: func(t *testing.T) string {
			return serve(t, sse(30*time.Millisecond, ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n"))
		}, stream: true, limits: Limits{Stall: 100 * time.Millisecond}, class: StreamStall, status: 200, limit: LimitStall},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t, tc.url(t)).WithLimits(tc.limits)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			var err error
			if tc.stream {
				_, err = c.ChatStream(ctx, UserPrompt("m", "q", 8))
			} else {
				_, err = c.Chat(ctx, UserPrompt("m", "q", 8))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if e.Class != tc.class || e.Status != tc.status || e.Limit != tc.limit || ClassOf(err) != tc.class {
				t.Fatalf("class %s status %d limit %q (%v); want %s %d %q", e.Class, e.Status, e.Limit, err, tc.class, tc.status, tc.limit)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("error %q, want it to contain %q", err, tc.detail)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(e.Body, testToken) {
				t.Fatalf("the token leaked: %q / body %q", err, e.Body)
			}
		})
	}
}

func TestOversizedBodyIsBounded(t *testing.T) {
	url := serve(t, raw(200, "application/json", `{"choices":[{"message":{"content":"`+strings.Repeat("x", 4096)+`"}}]}`))
	c := client(t, url)
	c.MaxBody = 1024
	_, err := c.Chat(context.Background(), UserPrompt("m", "q", 8))
	if !errors.Is(err, ErrTooLarge) || ClassOf(err) != BadResponse {
		t.Fatalf("error %v, want bad_response ErrTooLarge", err)
	}
}
