package canary

import (
	"fmt"
	"math"
	"time"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/core/text"
)

// The canary's checks, each its own alert channel, in the order a request
// meets them: a failure at one stage shows that the earlier stages passed.
const (
	// CheckUnreachable: no connection (refused, reset, TLS handshake).
	CheckUnreachable = "unreachable"
	// CheckHang: connected, but no response header within the
	// time-to-first-byte limit, or the whole request over the deadline:
	// the "port open, /v1/models fine, chat hangs" incident.
	CheckHang = suite.CheckHang // the guardian reads it
	// CheckHTTPError: a status other than 200.
	CheckHTTPError = "http_error"
	// CheckStreamStall: (--stream) a gap between chunks over the limit.
	CheckStreamStall = suite.CheckStreamStall // the guardian reads it
	// CheckBadResponse: 200 but not a usable completion (not JSON, HTML, no
	// choices, empty content, a broken or unterminated stream).
	CheckBadResponse = "bad_response"
	// CheckWrongAnswer: a completion whose answer does not match --expect.
	CheckWrongAnswer = "wrong_answer"
)

// stages lists the checks in request order for a mode.
func stages(stream bool) []string {
	if stream {
		return []string{CheckUnreachable, CheckHang, CheckHTTPError, CheckStreamStall, CheckBadResponse, CheckWrongAnswer}
	}
	return []string{CheckUnreachable, CheckHang, CheckHTTPError, CheckBadResponse, CheckWrongAnswer}
}

// passedBefore returns the checks a result at check has shown to pass: the
// earlier stages of the pipeline. Later stages were not reached and keep
// their state.
func passedBefore(check string, stream bool) []string {
	st := stages(stream)
	for i, c := range st {
		if c == check {
			return st[:i]
		}
	}
	return nil
}

// result is what one canary request found. Check is empty when it passed.
type result struct {
	Check  string
	Detail string

	Model            string
	HTTPStatus       int
	Answered         bool   // a completion's content was read (it may be empty)
	Answer           string // the judged answer: content without inline reasoning
	ReasoningBytes   int    // reasoning_content (or <think>) the model produced
	FinishReason     string
	PromptTokens     int           // -1 when the server did not say
	CompletionTokens int           // -1 when the server did not say
	Latency          time.Duration // the whole run, model lookup included
	TTFB             time.Duration // until the chat (or failing) response header
	TTFT             time.Duration // (stream) from the chat request to the first non-empty content
	Chunks           int           // (stream) data events before [DONE]
	TokensPerSecond  float64       // (stream) completion tokens over generation time
	Stream           bool
	// Cold: the server said the model was not loaded before the question;
	// the limits had LoadAllowance more (cold.go).
	Cold          bool
	LoadAllowance time.Duration
	// Rule is the answer rule a wrong answer broke (answer.go).
	Rule string
}

func newResult(stream bool) result {
	return result{PromptTokens: -1, CompletionTokens: -1, Stream: stream}
}

// fail records the failing check. The detail may quote the server (an
// answer, a model id, a body excerpt), so it is redacted here, once, before
// it reaches an event, the state or an alert.
func (r *result) fail(check, format string, args ...any) {
	r.Check, r.Detail = check, redact.String(fmt.Sprintf(format, args...))
}

// failRule records a wrong answer and the answer rule it broke.
func (r *result) failRule(rule, format string, args ...any) {
	r.fail(CheckWrongAnswer, format, args...)
	r.Rule = rule
}

// OK reports whether the canary passed.
func (r result) OK() bool { return r.Check == "" }

// Attrs are the event attributes of the result (transport and duration_ms
// come from the probe's logger).
func (r result) Attrs() []any {
	a := []any{"latency_ms", r.Latency.Milliseconds(), "mode", mode(r.Stream)}
	if r.Model != "" {
		a = append(a, "model", redact.String(r.Model))
	}
	if r.HTTPStatus != 0 {
		a = append(a, "http_status", r.HTTPStatus)
	}
	if r.TTFB > 0 {
		a = append(a, "ttfb_ms", r.TTFB.Milliseconds())
	}
	if r.Stream {
		if r.TTFT > 0 {
			a = append(a, "ttft_ms", r.TTFT.Milliseconds())
		}
		a = append(a, "chunks", r.Chunks)
		if r.TokensPerSecond > 0 {
			a = append(a, "tokens_per_second", math.Round(r.TokensPerSecond*10)/10)
		}
	}
	if r.Answered {
		shown := text.Cut(r.Answer, answerLogMax)
		a = append(a, "answer", redact.String(shown), "answer_sha256", sha256Hex(r.Answer), "answer_bytes", len(r.Answer))
		if shown != r.Answer {
			a = append(a, "answer_truncated", true)
		}
	}
	if r.ReasoningBytes > 0 {
		a = append(a, "reasoning_bytes", r.ReasoningBytes)
	}
	if r.FinishReason != "" {
		a = append(a, "finish_reason", r.FinishReason)
	}
	if r.PromptTokens >= 0 {
		a = append(a, "prompt_tokens", r.PromptTokens)
	}
	if r.CompletionTokens >= 0 {
		a = append(a, "completion_tokens", r.CompletionTokens)
	}
	if r.Cold {
		a = append(a, "cold", true, "load_allowance_ms", r.LoadAllowance.Milliseconds())
	}
	if r.Rule != "" {
		a = append(a, "answer_rule", r.Rule)
	}
	return a
}

func mode(stream bool) string {
	if stream {
		return "stream"
	}
	return "json"
}
