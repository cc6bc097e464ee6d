package realollama

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/tinyllama"
)

// Template is the chat template of the models Create makes, in Ollama's
// Modelfile TEMPLATE syntax (Go text/template over .Messages; see
// template/template.go in ollama/ollama). Like tinyllama.ChatTemplate, it
// ends with "assistant:", so the model's walk starts at its first word.
const Template = `{{- range .Messages }}{{ .Role }}: {{ .Content }}
{{ end }}assistant:`

// Model is a model to create on the server from a generated GGUF.
type Model struct {
	// Tiny shapes the generated weights; the zero value counts from 1
	// (tinyllama.Counting) and never stops before max_tokens.
	Tiny tinyllama.Config
	// NumCtx is the Modelfile's PARAMETER num_ctx, the context window
	// Ollama loads the model with; 0 leaves Ollama's default (4096 on a
	// host without GPU memory, or OLLAMA_CONTEXT_LENGTH).
	NumCtx int
	// Parameters are more PARAMETER lines, e.g. {"num_predict": "64"}.
	Parameters map[string]string
}

// Created is a model Create made.
type Created struct {
	// Name is the model as the server lists it ("tiny:latest"): what a
	// probe's --model and a request's "model" take.
	Name string
	// GGUF is the generated file; Tiny describes it (its Answer is what
	// the model says).
	GGUF string
	Tiny *tinyllama.Model
}

// Create writes the GGUF that m describes and runs `ollama create name -f
// Modelfile` against the server (the CLI uploads the file as a blob, the
// server builds the model), failing the test on any error. Creating a
// name again replaces the model: a new digest under the same name.
func (s *Server) Create(t testing.TB, name string, m Model) Created {
	t.Helper()
	tiny, err := tinyllama.New(m.Tiny)
	if err != nil {
		t.Fatal(err)
	}
	base := strings.NewReplacer("/", "_", ":", "_").Replace(name)
	gguf := filepath.Join(s.Dir, "gguf", base+".gguf")
	if err := tiny.WriteFile(gguf); err != nil {
		t.Fatal(err)
	}
	mf := filepath.Join(s.Dir, "gguf", base+".Modelfile")
	if err := os.WriteFile(mf, []byte(Modelfile(gguf, m)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Bin, "create", name, "-f", mf)
	cmd.Env = s.Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ollama create %s: %v\n%s\nserver log tail:\n%s", name, err, out, s.LogTail(20))
	}
	full := name
	if !strings.Contains(name, ":") {
		full += ":latest"
	}
	return Created{Name: full, GGUF: gguf, Tiny: tiny}
}

// Modelfile is the Modelfile Create writes for the GGUF at path.
func Modelfile(path string, m Model) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\n", path)
	fmt.Fprintf(&b, "TEMPLATE \"\"\"%s\"\"\"\n", Template)
	if m.NumCtx > 0 {
		fmt.Fprintf(&b, "PARAMETER num_ctx %d\n", m.NumCtx)
	}
	keys := make([]string, 0, len(m.Parameters))
	for k := range m.Parameters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "PARAMETER %s %s\n", k, m.Parameters[k])
	}
	return b.String()
}

// Loaded is one entry of GET /api/ps, the fields tests read.
type Loaded struct {
	Name      string    `json:"name"`
	Model     string    `json:"model"`
	Size      int64     `json:"size"`
	SizeVRAM  int64     `json:"size_vram"`
	Digest    string    `json:"digest"`
	ExpiresAt time.Time `json:"expires_at"`
	Context   int       `json:"context_length"`
}

// PS returns the loaded models (GET /api/ps), in the server's order.
func (s *Server) PS(t testing.TB) []Loaded {
	t.Helper()
	var ps struct {
		Models []Loaded `json:"models"`
	}
	s.getJSON(t, "/api/ps", &ps)
	return ps.Models
}

// Load loads model into memory (POST /api/generate with no prompt) with
// keepAlive ("" = the server's default, "-1" = forever, "0" unloads).
func (s *Server) Load(t testing.TB, model, keepAlive string) {
	t.Helper()
	body := map[string]any{"model": model}
	if keepAlive != "" {
		body["keep_alive"] = keepAlive
	}
	s.postJSON(t, "/api/generate", body, nil)
}

// Unload asks the server to unload model (keep_alive 0) and waits until
// /api/ps no longer lists it.
func (s *Server) Unload(t testing.TB, model string) {
	t.Helper()
	s.postJSON(t, "/api/generate", map[string]any{"model": model, "keep_alive": 0}, nil)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		loaded := false
		for _, m := range s.PS(t) {
			loaded = loaded || m.Name == model
		}
		if !loaded {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s is still loaded 30 s after keep_alive 0", model)
}

// Chat sends one non-streamed chat request at temperature 0 through the
// OpenAI-compatible endpoint and returns the answer's content.
func (s *Server) Chat(t testing.TB, model, prompt string, maxTokens int) string {
	t.Helper()
	var resp struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	s.postJSON(t, "/v1/chat/completions", map[string]any{
		"model": model, "temperature": 0, "max_tokens": maxTokens,
		"messages": []map[string]string{{"role": "user", "content": prompt}},
	}, &resp)
	if len(resp.Choices) != 1 {
		t.Fatalf("chat with %s: %d choices", model, len(resp.Choices))
	}
	return resp.Choices[0].Message.Content
}

// ChatInBackground starts another client's chat with model, asking for
// maxTokens tokens (the tiny model always runs to the limit), and returns
// a function that cancels it if it is still running and waits for it to
// end. The server's runner works while it runs: the busy server the
// probes must tell from a wedged or slow one. Cleanup calls stop too.
func (s *Server) ChatInBackground(t testing.TB, model string, maxTokens int) (stop func()) {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"model": model, "temperature": 0, "max_tokens": maxTokens, "stream": true,
		"messages": []map[string]string{{"role": "user", "content": "Count for a while."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/chat/completions", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// maxBody bounds what the helpers read from the server.
const maxBody = 4 << 20

func (s *Server) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	s.decode(t, "GET "+path, resp, v)
}

func (s *Server) postJSON(t testing.TB, path string, body, v any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	s.decode(t, "POST "+path, resp, v)
}

func (s *Server) decode(t testing.TB, what string, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", what, resp.StatusCode, limit(b, 500))
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v: %s", what, err, limit(b, 500))
		}
	}
}
