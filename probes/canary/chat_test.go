package canary

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/server/transport"
)

const testToken = "sk-council-PLANTED-token-7d41f0"

// newCanary returns a canary against url over bearer (the token in a real
// 0600 file), with small limits so failing cases stay fast.
func newCanary(t *testing.T, url string, stream bool) *canary {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "council.token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cl, err := transport.Resolve(transport.Config{Mode: transport.Bearer, URL: url, TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	return &canary{
		Client: cl, Prompt: defaultPrompt, Expect: regexp.MustCompile(defaultExpect), MaxTokens: defaultMaxTokens,
		Stream: stream, Deadline: 3 * time.Second, TTFB: time.Second, Stall: 500 * time.Millisecond,
	}
}

// server serves /v1/models with one model and chat with h.
func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"object":"list","data":[{"id":"m1"},{"id":"m2"}]}`)
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		// Read the body first, as a real server does: until then Go's
		// server cannot notice the client going away.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func jsonReply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func message(content, reasoning, finish string) string {
	c, _ := json.Marshal(content)
	rc, _ := json.Marshal(reasoning)
	return fmt.Sprintf(`{"choices":[{"index":0,"message":{"role":"assistant","content":%s,"reasoning_content":%s},"finish_reason":%q}],"usage":{"prompt_tokens":9,"completion_tokens":3}}`, c, rc, finish)
}

// sseReply writes each event as "data: <e>\n\n", flushing after each, with
// gap between them. Events starting with ":" or "raw:" are written as they
// are; "hang" blocks until the client goes away.
func sseReply(gap time.Duration, events ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		for _, e := range events {
			if e == "hang" {
				<-r.Context().Done()
				return
			}
			if strings.HasPrefix(e, ":") || strings.HasPrefix(e, "raw:") {
				io.WriteString(w, strings.TrimPrefix(e, "raw:"))
			} else {
				fmt.Fprintf(w, "data: %s\n\n", e)
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(gap):
			case <-r.Context().Done():
				return
			}
		}
	}
}

func delta(content string) string {
	c, _ := json.Marshal(content)
	return fmt.Sprintf(`{"choices":[{"index":0,"delta":{"content":%s},"finish_reason":null}]}`, c)
}

const (
	roleChunk   = `{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`
	finishChunk = `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`
	usageChunk  = `{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2}}`
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		stream     bool
		model      string
		handler    http.HandlerFunc
		wantCheck  string // "" = pass
		wantDetail string
		check      func(t *testing.T, r result)
	}{
		{name: "json pass", handler: jsonReply(200, message("4", "", "stop")),
			check: func(t *testing.T, r result) {
				if r.Model != "m1" || r.PromptTokens != 9 || r.CompletionTokens != 3 || r.FinishReason != "stop" || r.HTTPStatus != 200 || !r.Answered {
					t.Errorf("result = %+v", r)
				}
			}},
		{name: "reasoning_content is measured, not judged", handler: jsonReply(200, message("5", "2+2 is 4", "stop")),
			wantCheck: CheckWrongAnswer, wantDetail: `answered "5"`},
		{name: "reasoning then the right answer", handler: jsonReply(200, message("4", "2+2... four", "stop")),
			check: func(t *testing.T, r result) {
				if r.ReasoningBytes != len("2+2... four") {
					t.Errorf("reasoning_bytes = %d", r.ReasoningBytes)
				}
			}},
		{name: "inline think block is not the answer", handler: jsonReply(200, message("<think>2+2 is 4</think>5", "", "stop")),
			wantCheck: CheckWrongAnswer, wantDetail: `answered "5"`},
		{name: "think opened by the chat template is not the answer", handler: jsonReply(200, message("2+2 is 4</think>5", "", "stop")),
			wantCheck: CheckWrongAnswer, wantDetail: `answered "5"`,
			check: func(t *testing.T, r result) {
				if r.Answer != "5" || r.ReasoningBytes != len("2+2 is 4</think>") {
					t.Errorf("answer %q, reasoning_bytes %d", r.Answer, r.ReasoningBytes)
				}
			}},
		{name: "max_tokens spent on reasoning", handler: jsonReply(200, message("", "let me think about 2+2 carefully", "length")),
			wantCheck: CheckBadResponse, wantDetail: "raise --max-tokens"},
		{name: "null content", handler: jsonReply(200, `{"choices":[{"message":{"role":"assistant","content":null},"finish_reason":"stop"}]}`),
			wantCheck: CheckBadResponse, wantDetail: "empty answer"},
		{name: "content as text parts", handler: jsonReply(200, `{"choices":[{"message":{"content":[{"type":"text","text":"The answer is "},{"type":"text","text":"4."}]},"finish_reason":"stop"}]}`)},
		{name: "content of a strange type", handler: jsonReply(200, `{"choices":[{"message":{"content":42}}]}`),
			wantCheck: CheckBadResponse, wantDetail: "neither a string"},
		{name: "no choices", handler: jsonReply(200, `{"choices":[]}`), wantCheck: CheckBadResponse, wantDetail: "no choices"},
		{name: "200 with an error object", handler: jsonReply(200, `{"error":{"message":"model overloaded"}}`),
			wantCheck: CheckBadResponse, wantDetail: "model overloaded"},
		{name: "not JSON", handler: jsonReply(200, `ok`), wantCheck: CheckBadResponse, wantDetail: "not JSON (syntax error"},
		{name: "html without a content type", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			io.WriteString(w, "<html><body>login</body></html>")
		}, wantCheck: CheckBadResponse, wantDetail: "HTML page"},
		{name: "401 echoing the token is redacted", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "rejected: "+r.Header.Get("Authorization"), http.StatusUnauthorized)
		}, wantCheck: CheckHTTPError, wantDetail: "HTTP 401: rejected: Bearer [redacted]"},
		{name: "unknown model", model: "nope", handler: jsonReply(404, `{"error":{"message":"model \"nope\" not found"}}`),
			wantCheck: CheckHTTPError, wantDetail: "HTTP 404"},
		{name: "body trickles past the deadline", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			io.WriteString(w, `{"choices":`)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, wantCheck: CheckHang, wantDetail: "not finished within the 3s deadline"},
		{name: "no response header within the ttfb limit", handler: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, wantCheck: CheckHang, wantDetail: "no response header within 1s"},

		{name: "stream pass", stream: true, handler: sseReply(0, roleChunk, delta("4"), finishChunk, usageChunk, "[DONE]"),
			check: func(t *testing.T, r result) {
				if r.Answer != "4" || r.Chunks != 4 || r.CompletionTokens != 2 || r.TTFT <= 0 || r.FinishReason != "stop" {
					t.Errorf("result = %+v", r)
				}
			}},
		{name: "stream without usage counts deltas", stream: true,
			handler: sseReply(10*time.Millisecond, roleChunk, delta("The"), delta(" answer"), delta(" is 4"), finishChunk, "[DONE]"),
			check: func(t *testing.T, r result) {
				if r.CompletionTokens != 3 || r.TokensPerSecond <= 0 || r.PromptTokens != -1 {
					t.Errorf("result = %+v", r)
				}
			}},
		{name: "stream: data after [DONE] is ignored", stream: true, handler: sseReply(0, delta("4"), finishChunk, "[DONE]", "garbage")},
		{name: "stream: reasoning deltas are not the answer", stream: true,
			handler:   sseReply(0, `{"choices":[{"delta":{"reasoning_content":"2+2 = 4"}}]}`, delta("5"), finishChunk, "[DONE]"),
			wantCheck: CheckWrongAnswer, wantDetail: `answered "5"`},
		{name: "stream: chunk is not JSON", stream: true, handler: sseReply(0, roleChunk, "{not json", "[DONE]"),
			wantCheck: CheckBadResponse, wantDetail: "chunk 2 is not JSON"},
		{name: "stream: no [DONE]", stream: true, handler: sseReply(0, delta("4"), finishChunk),
			wantCheck: CheckBadResponse, wantDetail: "without data: [DONE] after 2 chunk(s)"},
		{name: "stream: no finish_reason", stream: true, handler: sseReply(0, delta("4"), "[DONE]"),
			wantCheck: CheckBadResponse, wantDetail: "no finish_reason"},
		{name: "stream: cut off mid-line", stream: true, handler: sseReply(0, delta("4"), `raw:data: {"choi`),
			wantCheck: CheckBadResponse, wantDetail: "cut off mid-line"},
		{name: "stream: error chunk", stream: true, handler: sseReply(0, roleChunk, `{"error":{"message":"oom"}}`),
			wantCheck: CheckBadResponse, wantDetail: "carries an error"},
		{name: "stream: JSON instead of a stream", stream: true, handler: jsonReply(200, message("4", "", "stop")),
			wantCheck: CheckBadResponse, wantDetail: "asked for a stream, got application/json"},
		{name: "stream: stall after the first token", stream: true, handler: sseReply(0, roleChunk, delta("4"), "hang"),
			wantCheck: CheckStreamStall, wantDetail: "no event for 500ms after 2 chunk(s)"},
		{name: "stream: keep-alive comments do not hide a stall", stream: true,
			handler:   sseReply(100*time.Millisecond, roleChunk, ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n", ": ping\n\n", delta("4"), finishChunk, "[DONE]"),
			wantCheck: CheckStreamStall},
		{name: "stream: steady tokens past the deadline", stream: true,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for {
					fmt.Fprintf(w, "data: %s\n\n", delta("x"))
					w.(http.Flusher).Flush()
					select {
					case <-time.After(100 * time.Millisecond):
					case <-r.Context().Done():
						return
					}
				}
			}, wantCheck: CheckHang, wantDetail: "stream not finished within the 3s deadline"},
		{name: "stream: endless line", stream: true, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: ")
			buf := []byte(strings.Repeat("x", 32<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		}, wantCheck: CheckBadResponse, wantDetail: "exceeds the size limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := server(t, tc.handler)
			c := newCanary(t, srv.URL, tc.stream)
			c.Model = tc.model
			r, err := c.Run(context.Background())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if r.Check != tc.wantCheck {
				t.Fatalf("check = %q (%s), want %q", r.Check, r.Detail, orNone(tc.wantCheck))
			}
			if !strings.Contains(r.Detail, tc.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", r.Detail, tc.wantDetail)
			}
			if strings.Contains(r.Detail, testToken) || strings.Contains(fmt.Sprint(r.Attrs()...), testToken) {
				t.Errorf("the token leaked into the result: %q", r.Detail)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestRequestBody(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(mode(stream), func(t *testing.T) {
			var got map[string]any
			var auth, accept string
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				auth, accept = r.Header.Get("Authorization"), r.Header.Get("Accept")
				json.NewDecoder(r.Body).Decode(&got)
				if stream {
					sseReply(0, delta("4"), finishChunk, "[DONE]")(w, r)
				} else {
					jsonReply(200, message("4", "", "stop"))(w, r)
				}
			})
			c := newCanary(t, srv.URL, stream)
			c.MaxTokens = 77
			if r, err := c.Run(context.Background()); err != nil || !r.OK() {
				t.Fatalf("Run = %+v, %v", r, err)
			}
			temp, hasTemp := got["temperature"]
			msgs, _ := got["messages"].([]any)
			switch {
			case !hasTemp || temp != 0.0:
				t.Errorf("temperature = %v (present %v), want an explicit 0", temp, hasTemp)
			case got["max_tokens"] != 77.0:
				t.Errorf("max_tokens = %v, want 77", got["max_tokens"])
			case got["model"] != "m1":
				t.Errorf("model = %v, want the first listed model m1", got["model"])
			case got["stream"] != stream:
				t.Errorf("stream = %v", got["stream"])
			case len(msgs) != 1 || msgs[0].(map[string]any)["content"] != defaultPrompt:
				t.Errorf("messages = %v", got["messages"])
			case auth != "Bearer "+testToken:
				t.Errorf("Authorization header missing")
			}
			if _, hasOpts := got["stream_options"]; hasOpts != stream {
				t.Errorf("stream_options present = %v, want %v", hasOpts, stream)
			}
			if want := map[bool]string{true: "text/event-stream", false: "application/json"}[stream]; accept != want {
				t.Errorf("Accept = %q, want %q", accept, want)
			}
		})
	}
}

func TestModelLookup(t *testing.T) {
	tests := []struct {
		name       string
		models     http.HandlerFunc
		wantCheck  string
		wantDetail string
	}{
		{"no models", jsonReply(200, `{"data":[]}`), CheckBadResponse, "lists no models"},
		{"500", jsonReply(500, `{"error":"boom"}`), CheckHTTPError, "GET /v1/models: HTTP 500"},
		{"html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<!doctype html><p>portal")
		}, CheckBadResponse, "HTML page"},
		{"hangs", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, CheckHang, "GET /v1/models: connected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			mux.HandleFunc("GET /v1/models", tc.models)
			chats := 0
			mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { chats++ })
			srv := httptest.NewServer(mux)
			defer srv.Close()
			r, err := newCanary(t, srv.URL, false).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r.Check != tc.wantCheck || !strings.Contains(r.Detail, tc.wantDetail) {
				t.Fatalf("got %s: %s; want %s containing %q", r.Check, r.Detail, tc.wantCheck, tc.wantDetail)
			}
			if chats != 0 {
				t.Errorf("chat was asked %d time(s) without a model", chats)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r, err := newCanary(t, url, false).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Check != CheckUnreachable || !strings.Contains(r.Detail, "connection refused") {
		t.Fatalf("got %s: %s", r.Check, r.Detail)
	}
}

// A tick cancelled by SIGTERM determined nothing: Run returns the context's
// error and no failing check, so no channel counts a miss.
func TestRunCancelledIsNotAFailure(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(mode(stream), func(t *testing.T) {
			started := make(chan struct{})
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				if stream {
					w.Header().Set("Content-Type", "text/event-stream")
					fmt.Fprintf(w, "data: %s\n\n", roleChunk)
					w.(http.Flusher).Flush()
				}
				close(started)
				<-r.Context().Done()
			})
			c := newCanary(t, srv.URL, stream)
			c.TTFB, c.Stall = 10*time.Second, 10*time.Second
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-started; cancel() }()
			_, err := c.Run(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run error = %v, want context.Canceled", err)
			}
		})
	}
}
