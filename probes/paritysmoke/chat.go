package paritysmoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/openai"
	"github.com/sanctum/council-probes/pkg/transport"
)

// maxResponseBytes bounds a chat answer read from a server: max_tokens is at
// most MaxTokensLimit, so anything bigger is not an answer.
const maxResponseBytes = 4 << 20

// Backend is one OpenAI-compatible server the prompts are sent to, at
// temperature 0 with a fixed seed.
type Backend struct {
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
	// Secrets are redacted from response excerpts in errors (the bearer
	// token: a misbehaving server or proxy may echo the request's headers
	// into an error page), on top of anything shaped like one.
	Secrets []string

	// noExtras is set once the server refused seed/logprobs with a 400, so
	// the rest of the set is sent without them.
	noExtras bool
}

// Answer is one server's answer to one prompt.
type Answer struct {
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
func (a Answer) TokenCount() int {
	switch {
	case a.InlineReasoning:
	case len(a.ModelTokens) > 0:
		return len(a.ModelTokens)
	case a.UsageTokens > 0:
		return a.UsageTokens
	}
	return Tokenize(a.Text).Len()
}

type chatRequest struct {
	Model       string        `json:"model,omitempty"`
	Messages    []chatMessage `json:"messages"`
	Temperature float64       `json:"temperature"`
	Seed        *int64        `json:"seed,omitempty"`
	MaxTokens   int           `json:"max_tokens"`
	Logprobs    bool          `json:"logprobs,omitempty"`
	Stream      bool          `json:"stream"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatResponse struct {
	Choices []struct {
		Message struct {
			Content          *string `json:"content"`
			ReasoningContent string  `json:"reasoning_content"`
			Reasoning        string  `json:"reasoning"`
		} `json:"message"`
		Logprobs *struct {
			Content []struct {
				Token string `json:"token"`
			} `json:"content"`
		} `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// errRejectedExtras marks a 400 that may be the server refusing seed or
// logprobs.
var errRejectedExtras = errors.New("server rejected the request")

// Ask sends p and waits at most timeout for the whole answer. It never
// returns an error: failures are in Answer.Err, so one bad prompt does not
// stop the set.
func (b *Backend) Ask(ctx context.Context, p Prompt, timeout time.Duration) Answer {
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

func (b *Backend) post(ctx context.Context, p Prompt, extras bool) (Answer, error) {
	body := chatRequest{
		Model:     b.Model,
		Messages:  []chatMessage{{Role: "user", Content: p.Prompt}},
		MaxTokens: p.MaxTokens,
	}
	if extras {
		if b.Seed != 0 {
			seed := b.Seed
			body.Seed = &seed
		}
		body.Logprobs = b.Logprobs
	}
	buf, err := json.Marshal(body)
	if err != nil {
		return Answer{}, fmt.Errorf("encode request: %w", err)
	}
	req, err := b.Client.NewRequest(ctx, http.MethodPost, "/v1/chat/completions", bytes.NewReader(buf))
	if err != nil {
		return Answer{}, err
	}
	resp, err := b.Client.HTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Answer{}, fmt.Errorf("request failed: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return Answer{}, fmt.Errorf("read answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if len(data) > maxResponseBytes {
		return Answer{}, fmt.Errorf("answer larger than %d bytes", maxResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("HTTP %d: %s", resp.StatusCode, printable(redact(data, b.Secrets), 120))
		if resp.StatusCode == http.StatusBadRequest && extras {
			err = fmt.Errorf("%w: %w", errRejectedExtras, err)
		}
		return Answer{}, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Answer{}, errors.New("HTTP 200 with an empty body")
	}
	var cr chatResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return Answer{}, fmt.Errorf("answer is not JSON (Content-Type %q): %s", resp.Header.Get("Content-Type"), printable(redact(data, b.Secrets), 60))
	}
	if len(cr.Choices) == 0 {
		return Answer{}, errors.New("answer has no choices")
	}
	ch := cr.Choices[0]
	a := Answer{FinishReason: ch.FinishReason}
	inline := 0
	if ch.Message.Content != nil {
		a.Text, inline = openai.Visible(*ch.Message.Content)
	}
	a.InlineReasoning = inline > 0
	a.ReasoningBytes = inline + len(ch.Message.ReasoningContent) + len(ch.Message.Reasoning)
	if ch.Logprobs != nil && len(ch.Logprobs.Content) > 0 {
		a.ModelTokens = make([]string, len(ch.Logprobs.Content))
		for i, t := range ch.Logprobs.Content {
			a.ModelTokens[i] = t.Token
		}
	}
	if cr.Usage != nil {
		a.UsageTokens = cr.Usage.CompletionTokens
	}
	return a, nil
}

// bearerRE matches a bearer credential as an echoed Authorization header
// spells it.
var bearerRE = regexp.MustCompile(`(?i)(bearer\s+)[^\s"',;]+`)

// redact returns a response body as text with the known secrets and
// anything shaped like a bearer credential replaced, before any excerpt of
// it reaches an error, a log line or an alert.
func redact(body []byte, secrets []string) string {
	s := string(body)
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return bearerRE.ReplaceAllString(s, "${1}[redacted]")
}

// ResolveModel sets Model to the server's first listed model when it is
// empty (the --model contract). A server that cannot list its models is
// left to choose itself; the error says why.
func (b *Backend) ResolveModel(ctx context.Context, timeout time.Duration) error {
	if b.Model != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := b.Client.NewRequest(ctx, http.MethodGet, "/v1/models", nil)
	if err != nil {
		return err
	}
	resp, err := b.Client.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("list models: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("list models: HTTP %d", resp.StatusCode)
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&list); err != nil {
		return fmt.Errorf("list models: %w", err)
	}
	if len(list.Data) == 0 || list.Data[0].ID == "" {
		return errors.New("list models: the server lists no model")
	}
	b.Model = list.Data[0].ID
	return nil
}
