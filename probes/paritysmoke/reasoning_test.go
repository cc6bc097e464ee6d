package paritysmoke

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

// capitalPrompt is asked of simulators whose answer to "capital of France"
// the test sets; the simulator returns its tokens as logprobs.
var capitalPrompt = prompt{ID: "capital", Prompt: "What is the capital of France?", MaxTokens: 256, Expect: []string{"Paris"}}

// runOne sends capitalPrompt to a simulator answering primary and, when
// reference is not "", to a second one answering reference, both asked
// for logprobs, and judges the result as a tick does.
func runOne(t *testing.T, primary, reference string) result {
	t.Helper()
	backend := func(role, answer string) *backend {
		sim := startSim(t, councilsim.Config{Answers: map[string]string{"capital of France": answer}})
		return &backend{Role: role, Client: plainClient(t, sim.PlainURL(), ""), Seed: 42, Logprobs: true}
	}
	r := &runner{Primary: backend("primary", primary), PromptTimeout: 5 * time.Second, MinPrefix: 8}
	if reference != "" {
		r.Reference = backend("reference", reference)
	}
	results, err := r.Run(context.Background(), &promptSet{Version: 1, Prompts: []prompt{capitalPrompt}}, nil)
	if err != nil || len(results) != 1 {
		t.Fatalf("Run = %d results, %v", len(results), err)
	}
	return results[0]
}

// Reasoning is not the answer: an expectation met only in <think>, garbage
// only in <think>, or a difference only in <think> must not decide the
// prompt, whether the block is whole or opened by the chat template.
func TestReasoningIsNotJudged(t *testing.T) {
	const answer = "The capital of France is Paris, on the Seine, as it has been for centuries."
	tests := []struct {
		name      string
		primary   string
		reference string // "" = no reference
		reason    string // substring of the reason; "" = passes
		basis     string // comparison basis; "" = no comparison
	}{
		{name: "expected substring only inside a think block fails",
			primary: "<think>The capital is Paris.</think>The capital is Lyon.", reason: `missing "Paris"`},
		{name: "expected substring only before a template-opened think's closing tag fails",
			primary: "The capital is Paris.</think>The capital is Lyon.", reason: `missing "Paris"`},
		{name: "unclosed think block is an empty answer",
			primary: "<think>The capital is Paris, I think", reason: "empty answer: only reasoning"},
		{name: "answer after the reasoning passes",
			primary: "<think>Lyon? No.</think>" + answer},
		{name: "garbage only in the reasoning passes",
			primary: "<think>" + strings.Repeat("the ", 20) + "</think>" + answer},
		{name: "reference comparison ignores reasoning differences",
			primary:   "<think>Let me recall French geography first.</think>" + answer,
			reference: "<think>Easy.</think>\n" + answer, basis: "text"},
		{name: "reference comparison ignores template-opened reasoning",
			primary: "Recall the geography.</think>" + answer, reference: answer, basis: "text"},
		{name: "plain answers still compare by server tokens",
			primary: answer, reference: answer, basis: "logprobs"},
		{name: "the same reasoning does not hide a divergence in the answer",
			primary:   "<think>Same thoughts.</think>The capital of France is Lyon, on the Rhone, as it has been for centuries.",
			reference: "<think>Same thoughts.</think>" + answer, reason: "diverged from the reference at token 5", basis: "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runOne(t, tt.primary, tt.reference)
			if tt.reason == "" && !r.Pass || tt.reason != "" && (r.Pass || !strings.Contains(r.Reason, tt.reason)) {
				t.Fatalf("pass %v, reason %q; want %q", r.Pass, r.Reason, tt.reason)
			}
			if strings.Contains(r.Primary.Text, "think>") || r.Primary.ReasoningBytes == 0 && strings.Contains(tt.primary, "think>") {
				t.Fatalf("primary answer %q, reasoning_bytes %d", r.Primary.Text, r.Primary.ReasoningBytes)
			}
			if tt.basis == "" {
				return
			}
			if r.Cmp == nil || r.Cmp.Basis != tt.basis {
				t.Fatalf("comparison = %+v, want basis %s", r.Cmp, tt.basis)
			}
			if strings.Contains(r.Cmp.PrimaryExcerpt+r.Cmp.ReferenceExcerpt, "thoughts") {
				t.Fatalf("excerpts quote the reasoning: %+v", r.Cmp)
			}
		})
	}
}

// --record writes the visible answer as observed and picks new keys from
// it, never from the reasoning.
func TestGoldenHasNoReasoning(t *testing.T) {
	tests := []struct {
		name    string
		primary string
	}{
		{"think block", "<think>Paris comes to mind, Jupiter too.</think>\nLyon, Marseille."},
		{"template-opened think", "Paris comes to mind, Jupiter too.</think>\nLyon, Marseille."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runOne(t, tt.primary, "")
			set := goldenSet([]result{r}, "note")
			p := set.Prompts[0]
			if p.Observed != "Lyon, Marseille." {
				t.Errorf("observed = %q", p.Observed)
			}
			if strings.Join(p.Expect, " ") != "Lyon Marseille" {
				t.Errorf("expect = %q, want keys from the visible answer", p.Expect)
			}
		})
	}
}

// Ask parses the answer out of the content and measures reasoning in
// either form; server tokens and counts then cover the reasoning, so the
// answer's length is its own tokenisation.
func TestBackendAskReasoning(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		text      string
		reasoning int
		inline    bool
		tokens    int
	}{
		{"inline think block", `{"choices":[{"message":{"content":"<think>hm</think>Paris."},"logprobs":{"content":[{"token":"<think>"},{"token":"hm"},{"token":"</think>"},{"token":"Paris"},{"token":"."}]},"finish_reason":"stop"}],"usage":{"completion_tokens":5}}`,
			"Paris.", len("<think>hm</think>"), true, 2},
		{"reasoning_content field", `{"choices":[{"message":{"content":"Paris.","reasoning_content":"hm, Paris"},"logprobs":{"content":[{"token":"Paris"},{"token":"."}]},"finish_reason":"stop"}],"usage":{"completion_tokens":9}}`,
			"Paris.", len("hm, Paris"), false, 2},
		{"reasoning field", `{"choices":[{"message":{"content":"Paris.","reasoning":"hm"}}],"usage":{"completion_tokens":4}}`,
			"Paris.", 2, false, 4},
		{"no reasoning", `{"choices":[{"message":{"content":"Paris."}}],"usage":{"completion_tokens":2}}`,
			"Paris.", 0, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			b := &backend{Role: "primary", Client: plainClient(t, srv.URL, ""), Logprobs: true}
			a := b.Ask(context.Background(), capitalPrompt, 5*time.Second)
			if a.Err != nil || a.Text != tt.text || a.ReasoningBytes != tt.reasoning || a.InlineReasoning != tt.inline || a.TokenCount() != tt.tokens {
				t.Fatalf("Ask = text %q err %v reasoning %d inline %v tokens %d; want %q %d %v %d",
					a.Text, a.Err, a.ReasoningBytes, a.InlineReasoning, a.TokenCount(), tt.text, tt.reasoning, tt.inline, tt.tokens)
			}
		})
	}
}
