package paritysmoke

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
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

func startSim(t testing.TB, cfg councilsim.Config) *councilsim.Sim {
	t.Helper()
	sim := councilsim.New(cfg)
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func plainClient(t *testing.T, url, tokenFile string) *transport.Client {
	t.Helper()
	c, err := transport.Resolve(transport.Config{Mode: transport.Bearer, URL: url, TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBackendAsk(t *testing.T) {
	prompt := prompt{ID: "p", Prompt: "What is the capital of France?", MaxTokens: 16}
	tests := []struct {
		name    string
		fault   councilsim.Fault
		timeout time.Duration
		text    string // expected answer
		err     string // expected error substring
	}{
		{"answer with server tokens", councilsim.FaultNone, 5 * time.Second, "The capital is Paris.", ""},
		{"HTTP 500", councilsim.Fault500, 5 * time.Second, "", "HTTP 500"},
		{"HTML instead of JSON", councilsim.FaultHTML, 5 * time.Second, "", "not JSON"},
		{"empty body", councilsim.FaultEmpty, 5 * time.Second, "", "empty body"},
		{"hung prompt times out alone", councilsim.FaultHang, 200 * time.Millisecond, "", "timeout after 200ms"},
		{"connection refused", councilsim.FaultDown, 5 * time.Second, "", "request failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, councilsim.Config{Answers: map[string]string{"capital of France": "The capital is Paris."}})
			url := sim.PlainURL()
			if err := sim.SetFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			b := &backend{Role: "primary", Client: plainClient(t, url, ""), Seed: 42, Logprobs: true}
			a := b.Ask(context.Background(), prompt, tt.timeout)
			if tt.err != "" {
				if a.Err == nil || !strings.Contains(a.Err.Error(), tt.err) {
					t.Fatalf("Ask error = %v, want %q", a.Err, tt.err)
				}
				return
			}
			if a.Err != nil || a.Text != tt.text {
				t.Fatalf("Ask = %q, %v; want %q", a.Text, a.Err, tt.text)
			}
			if strings.Join(a.ModelTokens, "") != a.Text || len(a.ModelTokens) != 4 || a.TokenCount() != 4 || a.FinishReason != "stop" {
				t.Fatalf("server tokens = %q, finish %q", a.ModelTokens, a.FinishReason)
			}
		})
	}
}

// A server that refuses seed/logprobs with a 400 gets the prompt again
// without them, and the rest of the set is sent without them.
func TestBackendRetriesWithoutExtras(t *testing.T) {
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		bodies = append(bodies, body)
		if _, ok := body["seed"]; ok {
			http.Error(w, `{"error":{"message":"unknown parameter: seed"}}`, http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"choices":[{"message":{"content":"42"},"finish_reason":"stop"}],"usage":{"completion_tokens":1}}`)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	b := &backend{Role: "reference", Client: plainClient(t, srv.URL, ""), Seed: 7, Logprobs: true,
		Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	for i := 0; i < 2; i++ {
		a := b.Ask(context.Background(), prompt{ID: "p", Prompt: "q", MaxTokens: 4}, 5*time.Second)
		if a.Err != nil || a.Text != "42" || a.TokenCount() != 1 {
			t.Fatalf("Ask #%d = %+v", i, a)
		}
	}
	if len(bodies) != 3 {
		t.Fatalf("requests = %d, want 3 (refused, retried, then without extras)", len(bodies))
	}
	if bodies[0]["seed"] != float64(7) || bodies[0]["temperature"] != float64(0) || bodies[0]["logprobs"] != true {
		t.Fatalf("first request lacks temperature 0, seed and logprobs: %v", bodies[0])
	}
	if _, ok := bodies[2]["seed"]; ok {
		t.Fatalf("later request still sends seed: %v", bodies[2])
	}
	if !strings.Contains(logs.String(), "request_extras_refused") {
		t.Fatalf("retry not logged: %s", logs.String())
	}
}

func TestBackendBearerAndModel(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok-parity-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sim := startSim(t, councilsim.Config{Token: "tok-parity-test", Models: []string{"m-first", "m-second"}})
	b := &backend{Role: "primary", Client: plainClient(t, sim.PlainURL(), tokenFile)}
	if err := b.ResolveModel(context.Background(), 5*time.Second); err != nil || b.Model != "m-first" {
		t.Fatalf("ResolveModel = %v, model %q", err, b.Model)
	}
	a := b.Ask(context.Background(), prompt{ID: "p", Prompt: "2+2", MaxTokens: 4}, 5*time.Second)
	if a.Err != nil || a.Text != "4" {
		t.Fatalf("Ask with bearer = %+v", a)
	}
	// Without the token the simulator refuses, and the error says so.
	nob := &backend{Role: "primary", Client: plainClient(t, sim.PlainURL(), "")}
	if err := nob.ResolveModel(context.Background(), 5*time.Second); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("ResolveModel without token = %v", err)
	}
	if a := nob.Ask(context.Background(), prompt{ID: "p", Prompt: "2+2", MaxTokens: 4}, 5*time.Second); a.Err == nil || strings.Contains(a.Err.Error(), "tok-parity-test") {
		t.Fatalf("Ask without token = %+v", a)
	}
	// An explicit model is kept.
	fixed := &backend{Role: "primary", Client: plainClient(t, sim.PlainURL(), tokenFile), Model: "m-second"}
	if err := fixed.ResolveModel(context.Background(), time.Second); err != nil || fixed.Model != "m-second" {
		t.Fatalf("explicit model replaced: %v %q", err, fixed.Model)
	}
}

func TestRunnerHungPromptDoesNotStopTheRest(t *testing.T) {
	set, err := loadPrompts("")
	if err != nil {
		t.Fatal(err)
	}
	answers := simAnswers(t)
	simAns := map[string]string{}
	for _, p := range set.Prompts {
		simAns[p.Prompt] = answers[p.ID]
	}
	sim := startSim(t, councilsim.Config{Answers: simAns})
	hangOn := set.Prompts[3].Prompt
	srv := hangProxy(t, sim.PlainURL(), hangOn)
	r := &runner{Primary: &backend{Role: "primary", Client: plainClient(t, srv.URL, "")}, PromptTimeout: 300 * time.Millisecond, MinPrefix: 8}
	var seen []string
	results, err := r.Run(context.Background(), set, func(res result) { seen = append(seen, res.Prompt.ID) })
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 10 || len(seen) != 10 {
		t.Fatalf("results %d, callbacks %d; want 10", len(results), len(seen))
	}
	failed := failed(results)
	if len(failed) != 1 || failed[0].Prompt.ID != set.Prompts[3].ID || !strings.Contains(failed[0].Reason, "timeout") {
		t.Fatalf("failed = %+v", failed)
	}
}

func TestRunnerStopsOnCancel(t *testing.T) {
	set, _ := loadPrompts("")
	sim := startSim(t, councilsim.Config{Fault: councilsim.FaultHang})
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{Primary: &backend{Role: "primary", Client: plainClient(t, sim.PlainURL(), "")}, PromptTimeout: time.Minute}
	time.AfterFunc(100*time.Millisecond, cancel)
	results, err := r.Run(ctx, set, nil)
	if err == nil || len(results) != 0 {
		t.Fatalf("Run after cancel = %d results, %v", len(results), err)
	}
}

// hangProxy forwards to target, except chat requests whose body contains
// marker: those hang until the client gives up, as a wedged prompt would.
func hangProxy(t *testing.T, target, marker string) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(jsonEscape(marker))) {
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.Path, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	return srv
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// A server or proxy that echoes the request's credentials into an error
// page must not carry the bearer token into the answer's error, which
// becomes a log line and the parity alert's message.
func TestBackendRedactsEchoedToken(t *testing.T) {
	const tok = "tok-parity-ECHOED-5f1a"
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		status int
		body   func(r *http.Request) string
		err    string
	}{
		{"401 echoing the header", http.StatusUnauthorized,
			func(r *http.Request) string { return "denied: " + r.Header.Get("Authorization") }, "HTTP 401: denied: Bearer [redacted]"},
		{"500 echoing the bare token", http.StatusInternalServerError,
			func(r *http.Request) string {
				return "bad key " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			}, "HTTP 500: bad key [redacted]"},
		{"200 HTML page echoing the header", http.StatusOK,
			func(r *http.Request) string { return "<html>" + r.Header.Get("Authorization") + "</html>" }, "Bearer [redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body(r))
			}))
			defer srv.Close()
			c := plainClient(t, srv.URL, tokenFile)
			b := &backend{Role: "primary", Client: c}
			a := b.Ask(context.Background(), prompt{ID: "p", Prompt: "2+2", MaxTokens: 4}, 5*time.Second)
			if a.Err == nil {
				t.Fatalf("Ask = %+v, want an error", a)
			}
			if msg := a.Err.Error(); strings.Contains(msg, tok) || !strings.Contains(msg, tt.err) {
				t.Fatalf("Ask error = %q, want %q and no token", msg, tt.err)
			}
		})
	}
}
