//go:build real

package real

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/realollama"
	"github.com/sanctum/council-probes/pkg/testkit/tinyllama"
)

// fixtureDir is where the recorded answers are committed.
var fixtureDir = filepath.Join("..", "..", "pkg", "server", "backend", "testdata", "ollama", "real-"+realollama.Version)

// The simulator's Ollama personality must answer in the shape Ollama
// answers in, on every endpoint the probes read; the committed fixtures
// (which make test compares the simulator with) must still be what Ollama
// answers. REAL_UPDATE=1 re-records them.
func TestOllamaAnswersInTheSimulatorsShape(t *testing.T) {
	h := newHost(t, hostConfig{plain: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	live, err := realollama.Record(ctx, h.srv.URL, h.model.Name)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("REAL_UPDATE") != "" {
		if err := live.Save(fixtureDir); err != nil {
			t.Fatal(err)
		}
		t.Logf("re-recorded %s", fixtureDir)
	}
	committed, err := realollama.LoadRecording(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	unexpected, _, err := realollama.ShapeDiff(live, committed, "live", "committed", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range unexpected {
		t.Errorf("the committed fixtures are not what Ollama answers now (re-record: make test-real REAL_UPDATE=1): %s", d)
	}
	realollama.CheckSimShape(t, live)
}

// The canary's question, and pace's request to count.
const (
	canaryPrompt = "What is 2+2? Respond with only the number."
	pacePrompt   = "Now count from 1 upward, one number per word, separated by single spaces, " +
		"with no other text, and do not stop until you are cut off."
)

// What the tiny models answer on a real Ollama, which the probes' tests
// rely on: the default model counts whatever it is asked (a long answer
// cut by max_tokens, with a standalone 4 among other numbers), and runs
// to max_tokens without Ollama's repeat cut ending the stream; a model
// made to answer "4" stops after it.
func TestTheTinyModelsAnswers(t *testing.T) {
	h := newHost(t, hostConfig{plain: true})
	for _, prompt := range []string{canaryPrompt, pacePrompt} {
		if got, want := h.srv.Chat(t, h.model.Name, prompt, 16), h.model.Tiny.Answer(16); got != want {
			t.Errorf("the counting model answered %q to %q, want %q", got, prompt, want)
		}
	}
	// 256 streamed tokens (the canary's max_tokens): more than the 30
	// repeats after which Ollama silently ends a stream, so a model that
	// repeated itself would be cut here without finish_reason or [DONE].
	s := stream(t, h.srv.URL, h.model.Name, canaryPrompt, 256)
	if !s.done || s.finish != "length" || s.completionTokens != 256 || s.content != h.model.Tiny.Answer(256) {
		t.Errorf("256-token stream: done=%v finish=%q completion_tokens=%d, content %q", s.done, s.finish, s.completionTokens, s.content)
	}
	four := h.srv.Create(t, "four", realollama.Model{Tiny: tinyllama.Config{Words: []string{"4"}, Stop: true}})
	s = stream(t, h.srv.URL, four.Name, canaryPrompt, 256)
	if !s.done || s.finish != "stop" || s.content != " 4" {
		t.Errorf("the model that answers 4: done=%v finish=%q content %q", s.done, s.finish, s.content)
	}
}

// streamed is what a streamed chat came back with.
type streamed struct {
	content          string
	finish           string
	completionTokens int
	done             bool
}

// stream asks model for maxTokens tokens over server-sent events.
func stream(t *testing.T, url, model, prompt string, maxTokens int) streamed {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"model": model, "temperature": 0, "max_tokens": maxTokens, "stream": true,
		"stream_options": map[string]bool{"include_usage": true},
		"messages":       []map[string]string{{"role": "user", "content": prompt}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: HTTP %d", resp.StatusCode)
	}
	var s streamed
	var content strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		payload, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if payload == "[DONE]" {
			s.done = true
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta        struct{ Content string } `json:"delta"`
				FinishReason *string                  `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(payload), &chunk); err != nil {
			t.Fatalf("stream chunk %q: %v", payload, err)
		}
		for _, c := range chunk.Choices {
			content.WriteString(c.Delta.Content)
			if c.FinishReason != nil {
				s.finish = *c.FinishReason
			}
		}
		if chunk.Usage != nil {
			s.completionTokens = chunk.Usage.CompletionTokens
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	s.content = content.String()
	return s
}

// A supervised Ollama is a real process tree: launchd's pid is `ollama
// serve`, and the work happens in its child, `ollama runner`.
func TestSupervisedOllamaIsAProcessTree(t *testing.T) {
	h := newHost(t, hostConfig{})
	h.srv.Load(t, h.model.Name, "")
	serve := h.srv.PID()
	runners := h.srv.Runners()
	if len(runners) != 1 {
		t.Fatalf("ollama serve (pid %d) has runners %v, want one with the model loaded", serve, runners)
	}
	args, err := os.ReadFile("/proc/" + strconv.Itoa(runners[0]) + "/cmdline")
	if err != nil || !bytes.Contains(args, []byte("runner\x00--model\x00")) {
		t.Fatalf("runner %d's argv %q (%v)", runners[0], args, err)
	}
	// Its log is the primary log the probes read: Ollama's [GIN] access
	// lines are in it.
	if tail := h.srv.LogTail(50); !strings.Contains(tail, `[GIN]`) || !strings.Contains(tail, `"/api/generate"`) {
		t.Fatalf("no [GIN] access line for the load in the primary log:\n%s", tail)
	}
}

// A model created with a small context (PARAMETER num_ctx) and asked a
// longer prompt: Ollama answers, and its runner's warning lands in the
// primary log, where a probe can read it.
func TestASmallContextTruncatesInThePrimaryLog(t *testing.T) {
	h := newHost(t, hostConfig{plain: true, modelName: "small", model: realollama.Model{NumCtx: 128}})
	prompt := strings.Repeat("the river runs past a small house ", 60) // about 420 tokens
	if got := h.srv.Chat(t, h.model.Name, prompt, 8); got != h.model.Tiny.Answer(8) {
		t.Errorf("answered %q", got)
	}
	if ps := h.srv.PS(t); len(ps) != 1 || ps[0].Context != 128 {
		t.Errorf("/api/ps %+v, want the model loaded with a 128-token context", ps)
	}
	if tail := h.srv.LogTail(200); !strings.Contains(tail, `msg="truncating input prompt" limit=128`) {
		t.Errorf("no truncation warning in the primary log:\n%s", tail)
	}
}
