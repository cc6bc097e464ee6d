package councilsim

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// needlePrompt is words words long (the simulator's tokens), with a code
// at its start and one at its end, as council-context writes it.
func needlePrompt(words int, first, last string) string {
	head := "The first secret code is " + first + "."
	tail := "The second secret code is " + last + ". Repeat both codes."
	n := words - len(Tokenize(head)) - len(Tokenize(tail))
	return head + strings.Repeat(" filler", max(n, 0)) + " " + tail
}

func usageOf(t *testing.T, b []byte) usage {
	t.Helper()
	var r chatResponse
	if err := json.Unmarshal(b, &r); err != nil || r.Usage == nil {
		t.Fatalf("no usage in %s (%v)", b, err)
	}
	return *r.Usage
}

// TestContextWindow: a prompt inside the window is answered whole; one
// over it is refused with llama-server's 400 and log line; under fault
// truncate it is cut silently, as Ollama does: 200, prompt_tokens capped,
// the first code gone from what the model saw, and Ollama's WARN line.
func TestContextWindow(t *testing.T) {
	var log syncBuffer
	fixed := time.Date(2026, 12, 7, 3, 30, 1, 123_000_000, time.UTC)
	sim := startSim(t, Config{AccessLog: &log, ContextWindow: 100, Now: func() time.Time { return fixed }})
	c := newClient(10*time.Second, nil)

	resp, b, err := post(c, sim.PlainURL(), userChat(needlePrompt(80, "AAAA1111", "ZZZZ9999"), nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("inside the window: %v %v %s", resp, err, b)
	}
	if got := *decodeChat(t, b).Choices[0].Message.Content; got != "AAAA1111 ZZZZ9999" {
		t.Errorf("inside the window the answer is %q, want both codes", got)
	}
	if u := usageOf(t, b); u.PromptTokens != 80 {
		t.Errorf("prompt_tokens %d, want 80", u.PromptTokens)
	}

	over := userChat(needlePrompt(250, "AAAA1111", "ZZZZ9999"), nil)
	resp, b, err = post(c, sim.PlainURL(), over)
	if err != nil || resp.StatusCode != 400 || !strings.Contains(string(b), "request (250 tokens) exceeds the available context size (100 tokens)") ||
		!strings.Contains(string(b), "exceed_context_size_error") {
		t.Fatalf("over the window: %v %v %s; want llama-server's 400", resp, err, b)
	}
	waitFor(t, "the refusal in the log", func() bool {
		return strings.Contains(log.String(), "send_error: task id = 2, error: request (250 tokens) exceeds the available context size (100 tokens), try increasing it\n")
	})

	if err := sim.SetFault(FaultTruncate); err != nil {
		t.Fatal(err)
	}
	resp, b, err = post(c, sim.PlainURL(), over)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("truncate: %v %v %s", resp, err, b)
	}
	if u := usageOf(t, b); u.PromptTokens != 100 {
		t.Errorf("truncated prompt_tokens %d, want the window's 100", u.PromptTokens)
	}
	if got := *decodeChat(t, b).Choices[0].Message.Content; got != "ZZZZ9999" {
		t.Errorf("truncated answer %q, want only the code at the end (the start was cut)", got)
	}
	want := `time=2026-12-07T03:30:01.123Z level=WARN source=runner.go:153 msg="truncating input prompt" limit=100 prompt=250 keep=4 new=100` + "\n"
	waitFor(t, "the truncation in the log", func() bool { return strings.Contains(log.String(), want) })

	// No window: nothing is refused or cut.
	sim.SetContextWindow(-1)
	resp, b, err = post(c, sim.PlainURL(), over)
	if err != nil || resp.StatusCode != 200 || usageOf(t, b).PromptTokens != 250 {
		t.Fatalf("without a window: %v %v %s", resp, err, b)
	}
}

// TestContextWindowReported: each personality reports the window where
// its real server does, and the control listener changes it.
func TestContextWindowReported(t *testing.T) {
	c := newClient(5*time.Second, nil)
	for _, tc := range []struct {
		p    Personality
		path string
		key  string
	}{
		{PersonalityOllama, "/api/ps", `"context_length":%d`},
		{PersonalityLlamaServer, "/props", `"n_ctx":%d`},
		{PersonalityVLLM, "/v1/models", `"max_model_len":%d`},
	} {
		t.Run(string(tc.p), func(t *testing.T) {
			sim := startSim(t, Config{Personality: PersonalityConfig{Personality: tc.p}})
			check := func(n int) {
				t.Helper()
				_, body, err := get(c, sim.PlainURL()+tc.path)
				if err != nil || !strings.Contains(string(body), fmt.Sprintf(tc.key, n)) {
					t.Errorf("GET %s: %s (%v), want %s", tc.path, body, err, fmt.Sprintf(tc.key, n))
				}
			}
			check(DefaultContextWindow)
			if code, b, err := postControl(c, sim.ControlURL()+"/fault", `{"context_window": 2048}`); err != nil || code != 200 ||
				!strings.Contains(string(b), `"context_window":2048`) {
				t.Fatalf("control: %d %s %v", code, b, err)
			}
			check(2048)
		})
	}
	// The generic server reports none.
	sim := startSim(t, Config{})
	_, body, _ := get(c, sim.PlainURL()+"/v1/models")
	if strings.Contains(string(body), "max_model_len") {
		t.Errorf("a generic server reported a window: %s", body)
	}
}

// TestEndingFaults: endless runs to max_tokens with finish_reason length;
// a template leak ends "stop" with the chat template's tokens in the text;
// a context shift is logged when asked for, and when an answer outgrows
// the window.
func TestEndingFaults(t *testing.T) {
	var log syncBuffer
	sim := startSim(t, Config{AccessLog: &log, Answers: map[string]string{"capital of France": "Paris."}, ContextWindow: 40})
	c := newClient(10*time.Second, nil)
	ask := func(prompt string, maxTokens int) (string, string) {
		t.Helper()
		extra := chatBody{}
		if maxTokens > 0 {
			extra["max_tokens"] = maxTokens
		}
		resp, b, err := post(c, sim.PlainURL(), userChat(prompt, extra))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v %s", resp, err, b)
		}
		r := decodeChat(t, b)
		return *r.Choices[0].Message.Content, *r.Choices[0].FinishReason
	}
	if a, f := ask("What is the capital of France?", 16); a != "Paris." || f != "stop" {
		t.Fatalf("healthy: %q %s", a, f)
	}

	sim.SetFault(FaultEndless)
	a, f := ask("What is the capital of France?", 16)
	if f != "length" || len(Tokenize(a)) != 16 || !strings.HasPrefix(a, "Paris. 1 2 3") {
		t.Errorf("endless: %q (%d tokens) %s; want 16 tokens, the answer then a count, finish length", a, len(Tokenize(a)), f)
	}

	sim.SetFault(FaultTemplateLeak)
	if a, f := ask("What is the capital of France?", 64); f != "stop" || !strings.HasPrefix(a, "Paris.<|im_end|>\n<|im_start|>user\n") {
		t.Errorf("template leak: %q %s", a, f)
	}

	if strings.Contains(log.String(), "slot context shift") {
		t.Fatalf("a context shift logged before any: %s", log.String())
	}
	sim.SetFault(FaultContextShift)
	ask("What is the capital of France?", 16)
	waitFor(t, "a context shift line", func() bool {
		return strings.Contains(log.String(), "slot update_slots: id  0 | task 4 | slot context shift, n_keep = 1, n_left = 38, n_discard = 19\n")
	})

	// An answer that runs past the 40-token window shifts on its own.
	sim.SetFault(FaultNone)
	ask("count from 1 please", 60)
	waitFor(t, "a shift of the answer that outgrew the window", func() bool {
		return strings.Contains(log.String(), "| task 5 | slot context shift")
	})
}

func TestNeedleAnswer(t *testing.T) {
	for _, tc := range []struct{ prompt, want string }{
		{"The first secret code is K7Q2M9XD. blah. The second secret code is PP44RR22. Repeat them.", "K7Q2M9XD PP44RR22"},
		{"blah. The second secret code is PP44RR22. Repeat the secret code is what I ask.", "PP44RR22"},
		{"Tell me the secret code is missing.", "I see no secret code."},
	} {
		if got, ok := needleAnswer(tc.prompt); !ok || got != tc.want {
			t.Errorf("needleAnswer(%q) = %q, %t; want %q", tc.prompt, got, ok, tc.want)
		}
	}
	if _, ok := needleAnswer("What is 2+2?"); ok {
		t.Error("a prompt without a needle was taken for one")
	}
}
