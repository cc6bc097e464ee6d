package paritysmoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/server/openai"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// maxResponseBytes bounds a chat answer read from a server: max_tokens is at
// most MaxTokensLimit, so anything bigger is not an answer.
const maxResponseBytes = 4 << 20

// backend is one OpenAI-compatible server the prompts are sent to, at
// temperature 0 with a fixed seed.
type backend struct {
	// Role is "primary" or "reference", for events and errors.
	Role   string
	Client *transport.Client
	// Model is sent with each request; empty lets the server choose.
	Model string
	Seed  int64
	// Logprobs asks for the server's own tokens, compared when both
	// servers return them.
	Logprobs bool
	Log      *slog.Logger

	// noExtras is set once the server refused seed/logprobs with a 400, so
	// the rest of the set is sent without them.
	noExtras bool
}

// answer is one server's answer to one prompt.
type answer struct {
	// Text is the visible answer: the message content without the model's
	// reasoning (openai.Visible). It is all that is judged, checked for
	// garbage, compared and recorded; reasoning is never the answer.
	Text string
	// ReasoningBytes is the reasoning the server returned besides the
	// answer: inline <think> blocks cut from the content plus any
	// reasoning_content or reasoning field. Measured, never judged.
	ReasoningBytes int
	// InlineReasoning is set when reasoning was cut from the content: the
	// server's tokens and counts then cover the reasoning too and no
	// longer line up with Text (see Compare and TokenCount).
	InlineReasoning bool
	// ModelTokens are the server's tokens from logprobs (nil when the
	// server did not return them). They spell the whole content,
	// reasoning included.
	ModelTokens []string
	// UsageTokens is usage.completion_tokens (0 when absent).
	UsageTokens  int
	FinishReason string
	Latency      time.Duration
	// Err is an HTTP, timeout or protocol failure; Text is then empty.
	Err error
}

// TokenCount is the answer's length in tokens: the server's count when it
// gave one, else Tokenize's. When inline reasoning was cut from the
// content the server's counts include it, so Text is counted with
// Tokenize instead.
func (a answer) TokenCount() int {
	switch {
	case a.InlineReasoning:
	case len(a.ModelTokens) > 0:
		return len(a.ModelTokens)
	case a.UsageTokens > 0:
		return a.UsageTokens
	}
	return tokenize(a.Text).Len()
}

// errRejectedExtras marks a 400 that may be the server refusing seed or
// logprobs.
var errRejectedExtras = errors.New("server rejected the request")

// Ask sends p and waits at most timeout for the whole answer. It never
// returns an error: failures are in Answer.Err, so one bad prompt does not
// stop the set.
func (b *backend) Ask(ctx context.Context, p prompt, timeout time.Duration) answer {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	a, err := b.post(pctx, p, !b.noExtras)
	if errors.Is(err, errRejectedExtras) && !b.noExtras && (b.Seed != 0 || b.Logprobs) {
		// Some servers refuse unknown parameters; ask once more without them
		// and remember for the rest of the set.
		b.noExtras = true
		if b.Log != nil {
			b.Log.Warn("request_extras_refused", "backend", b.Role, "detail", err.Error(),
				"action", "retrying without seed and logprobs")
		}
		a, err = b.post(pctx, p, false)
	}
	a.Latency = time.Since(start)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("cancelled: %w", ctx.Err())
		case errors.Is(pctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("timeout after %s", timeout)
		}
		a.Err = err
	}
	return a
}

func (b *backend) post(ctx context.Context, p prompt, extras bool) (answer, error) {
	req := openai.UserPrompt(b.Model, p.Prompt, p.MaxTokens)
	if extras {
		if b.Seed != 0 {
			seed := b.Seed
			req.Seed = &seed
		}
		req.Logprobs = b.Logprobs
	}
	api := openai.New(b.Client)
	api.MaxBody = maxResponseBytes
	res, err := api.Chat(ctx, req)
	if err != nil {
		var e *openai.Error
		switch {
		case errors.As(err, &e) && e.Status == http.StatusBadRequest && extras:
			return answer{}, fmt.Errorf("%w: %w", errRejectedExtras, err)
		case errors.As(err, &e) && e.Class == openai.Unreachable:
			return answer{}, fmt.Errorf("request failed: %w", err)
		}
		return answer{}, err
	}
	a := answer{
		// The answer is shown (events, the table, the alert, a recorded
		// file), so it is redacted here, once: a server that echoes the
		// request's credentials gets a wrong answer, not a leak. Its own
		// tokens would spell the secret again; then they are dropped and
		// the redacted text is tokenized instead.
		Text:            redact.String(res.Answer),
		ReasoningBytes:  res.ReasoningBytes,
		InlineReasoning: res.InlineReasoning,
		ModelTokens:     res.LogprobTokens,
		UsageTokens:     max(res.CompletionTokens, 0),
		FinishReason:    redact.String(res.FinishReason),
	}
	if a.Text != res.Answer {
		a.ModelTokens = nil
	}
	return a, nil
}

// ResolveModel sets Model, when it is empty, to the model the server
// serves (openai.Models.Served: the first non-empty id it lists; the
// --model contract). A server that cannot list its models is left to
// choose itself; the error says why.
func (b *backend) ResolveModel(ctx context.Context, timeout time.Duration) error {
	if b.Model != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id, _, err := openai.New(b.Client).ServedModel(ctx, "")
	if err != nil {
		return fmt.Errorf("list models: %w", err)
	}
	b.Model = id
	return nil
}
