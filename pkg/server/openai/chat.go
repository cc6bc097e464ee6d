package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// StreamOptions are the stream's options; IncludeUsage asks for a final
// chunk with the token counts.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ChatRequest is a chat completion request. Temperature is always sent (a
// probe asks at 0 explicitly, not at the server's default). ChatStream sets
// Stream and, unless StreamOptions is set, asks for the usage chunk.
type ChatRequest struct {
	// Model is omitted when empty: the server chooses.
	Model         string         `json:"model,omitempty"`
	Messages      []Message      `json:"messages"`
	Temperature   float64        `json:"temperature"`
	Seed          *int64         `json:"seed,omitempty"`
	MaxTokens     int            `json:"max_tokens,omitempty"`
	Logprobs      bool           `json:"logprobs,omitempty"`
	Stream        bool           `json:"stream"`
	StreamOptions *StreamOptions `json:"stream_options,omitempty"`
}

// UserPrompt is a request of one user message.
func UserPrompt(model, prompt string, maxTokens int) ChatRequest {
	return ChatRequest{Model: model, Messages: []Message{{Role: "user", Content: prompt}}, MaxTokens: maxTokens}
}

// ChatResult is what a chat completion said, as far as it got: a failed
// request returns the part read before the failure.
type ChatResult struct {
	// Status is the HTTP status (0 when no header arrived).
	Status            int
	Model             string
	SystemFingerprint string
	// Content is the first choice's message content as sent (stream: the
	// deltas joined), up to the client's body bound.
	Content string
	// Reasoning is the reasoning_content (or reasoning) field, which is
	// never the answer.
	Reasoning string
	// Answer is Content without inline reasoning (see Visible).
	Answer string
	// ReasoningBytes counts the reasoning fields plus the inline reasoning
	// cut from Content; InlineReasoning says some was inline (the server's
	// token counts then cover more than Answer).
	ReasoningBytes  int
	InlineReasoning bool
	FinishReason    string
	// PromptTokens and CompletionTokens are the usage counts, -1 when the
	// server gave none. In a stream without a usage chunk CompletionTokens
	// counts the content and reasoning events instead, and TokensCounted is
	// set.
	PromptTokens, CompletionTokens int
	TokensCounted                  bool
	// TokenEvents counts the stream events that carried a content or
	// reasoning token, whatever the usage says (0 for a JSON answer): a
	// usage far from it is not to be believed.
	TokenEvents int
	// LogprobTokens are the server's tokens from logprobs (nil without).
	LogprobTokens []string
	// Chunks counts stream data events before [DONE]; Comments counts
	// comment lines (keep-alives).
	Chunks, Comments int
	Timings          Timings
}

func newChatResult() ChatResult {
	return ChatResult{PromptTokens: -1, CompletionTokens: -1}
}

// setContent records content and reasoning and derives the answer.
func (r *ChatResult) setContent(content, reasoning string, reasoningBytes int) {
	r.Content, r.Reasoning = content, reasoning
	visible, inline := Visible(content)
	r.Answer = visible
	r.InlineReasoning = inline > 0
	r.ReasoningBytes = reasoningBytes + inline
}

// usage is the wire form of the token counts; absent fields stay nil.
type usage struct {
	PromptTokens     *int `json:"prompt_tokens"`
	CompletionTokens *int `json:"completion_tokens"`
}

func (u *usage) apply(r *ChatResult) bool {
	if u == nil {
		return false
	}
	if u.PromptTokens != nil {
		r.PromptTokens = *u.PromptTokens
	}
	if u.CompletionTokens != nil {
		r.CompletionTokens = *u.CompletionTokens
	}
	return true
}

type logprobsWire struct {
	Content []struct {
		Token string `json:"token"`
	} `json:"content"`
}

func (l *logprobsWire) tokens() []string {
	if l == nil || len(l.Content) == 0 {
		return nil
	}
	out := make([]string, len(l.Content))
	for i, t := range l.Content {
		out[i] = t.Token
	}
	return out
}

// completion is the part of a chat completion this package reads.
type completion struct {
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Message *struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent string          `json:"reasoning_content"`
			Reasoning        string          `json:"reasoning"`
		} `json:"message"`
		Logprobs     *logprobsWire `json:"logprobs"`
		FinishReason *string       `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// Chat asks for a completion as one JSON document (req.Stream is ignored:
// use ChatStream).
func (c *Client) Chat(ctx context.Context, req ChatRequest) (ChatResult, error) {
	res := newChatResult()
	req.Stream, req.StreamOptions = false, nil
	x, err := c.postChat(ctx, req, "application/json", &res)
	if err != nil {
		return res, err
	}
	defer x.close()
	data, err := c.readBody(x)
	if err != nil {
		return res, err
	}
	var comp completion
	if err := decodeJSON(x, data, &comp); err != nil {
		return res, err
	}
	res.Model, res.SystemFingerprint = text.Ident(comp.Model), text.Ident(comp.SystemFingerprint)
	if hasValue(comp.Error) {
		e := x.fail(BadResponse, ErrServerError, "200 with an error object: %s", excerpt(comp.Error))
		e.Body = excerpt(comp.Error)
		return res, e
	}
	comp.Usage.apply(&res)
	if len(comp.Choices) == 0 {
		return res, x.fail(BadResponse, ErrNoChoices, "200 with no choices")
	}
	ch := comp.Choices[0]
	if ch.FinishReason != nil {
		res.FinishReason = *ch.FinishReason
	}
	res.LogprobTokens = ch.Logprobs.tokens()
	if ch.Message == nil {
		return res, x.fail(BadResponse, ErrNoChoices, "200 with no message in the first choice")
	}
	content, ok := contentText(ch.Message.Content)
	if !ok {
		return res, x.fail(BadResponse, ErrBadContent, "message content is neither a string nor text parts: %s", excerpt(ch.Message.Content))
	}
	reasoning := ch.Message.ReasoningContent + ch.Message.Reasoning
	res.setContent(content, reasoning, len(reasoning))
	if content != "" || reasoning != "" {
		res.Timings.FirstToken, res.Timings.LastToken = res.Timings.End, res.Timings.End
		if content != "" {
			res.Timings.FirstContent = res.Timings.End
		}
	}
	return res, nil
}

// postChat sends a chat request and returns the exchange of its 200,
// recording the status in res either way.
func (c *Client) postChat(ctx context.Context, req ChatRequest, accept string, res *ChatResult) (*exchange, error) {
	body, err := json.Marshal(req)
	if err != nil {
		// Only a NaN or infinite temperature gets here.
		return nil, &Error{Class: BadResponse, Op: http.MethodPost + " " + ChatPath, Detail: "encode request: " + err.Error(), Err: err}
	}
	x, err := c.sendOK(ctx, http.MethodPost, ChatPath, body, accept, &res.Timings)
	var e *Error
	switch {
	case errors.As(err, &e):
		res.Status = e.Status
	case err == nil:
		res.Status = x.resp.StatusCode
	}
	return x, err
}

// contentText reads message content: a string, null, or an array of
// {"type":"text","text":...} parts.
func contentText(raw json.RawMessage) (string, bool) {
	if !hasValue(raw) {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), true
}
