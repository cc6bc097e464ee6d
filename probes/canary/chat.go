package canary

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sanctum/council-probes/pkg/openai"
	"github.com/sanctum/council-probes/pkg/transport"
)

// maxBodyBytes bounds a non-streamed response body the canary reads.
const maxBodyBytes = 1 << 20

// Canary asks the council one question and judges the answer. Its zero
// limits are not usable; New's flags fill them.
type Canary struct {
	Client *transport.Client
	// Model is the model to ask; empty asks for the first one /v1/models
	// lists.
	Model     string
	Prompt    string
	Expect    *regexp.Regexp
	MaxTokens int
	Stream    bool
	// Deadline bounds the whole run (model lookup included); TTFB bounds
	// the wait for each response header; Stall the gap between two stream
	// events.
	Deadline, TTFB, Stall time.Duration
	// Secrets are redacted from body excerpts (the bearer token), on top of
	// anything shaped like one.
	Secrets []string
	// MaxEventBytes bounds one stream event (DefaultMaxEventBytes if 0).
	MaxEventBytes int
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

func (c *Canary) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Run asks the question once and returns what it found. The error is
// non-nil only when ctx itself was cancelled (SIGTERM): then nothing was
// determined and nothing must be reported as failing.
func (c *Canary) Run(ctx context.Context) (Result, error) {
	res := newResult(c.Stream)
	begin := c.now()
	err := c.run(ctx, &res)
	res.Latency = c.now().Sub(begin)
	return res, err
}

func (c *Canary) run(ctx context.Context, res *Result) error {
	dctx, cancel := context.WithTimeoutCause(ctx, c.Deadline, errDeadline)
	defer cancel()

	res.Model = c.Model
	if res.Model == "" {
		c.firstModel(dctx, res)
		if err := ctx.Err(); err != nil {
			return err
		}
		if !res.OK() {
			return nil
		}
	}
	if c.Stream {
		c.stream(dctx, res)
	} else {
		c.complete(dctx, res)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if res.OK() {
		c.judge(res)
	}
	return nil
}

// judge decides whether the assembled answer is the expected one.
func (c *Canary) judge(res *Result) {
	switch {
	case empty(res.Answer) && res.ReasoningBytes > 0 && res.FinishReason == "length":
		res.fail(CheckBadResponse, "empty answer: the model spent max_tokens=%d on reasoning (%d bytes; finish_reason=length); raise --max-tokens",
			c.MaxTokens, res.ReasoningBytes)
	case empty(res.Answer) && res.ReasoningBytes > 0:
		res.fail(CheckBadResponse, "empty answer: only reasoning (%d bytes), no content (finish_reason=%s)", res.ReasoningBytes, orNone(res.FinishReason))
	case empty(res.Answer):
		res.fail(CheckBadResponse, "empty answer (finish_reason=%s)", orNone(res.FinishReason))
	case !c.Expect.MatchString(res.Answer):
		shown, _ := truncate(res.Answer, 80)
		res.fail(CheckWrongAnswer, "answered %q to %q; expected a match for %s (finish_reason=%s)",
			shown, c.Prompt, describeExpect(c.Expect), orNone(res.FinishReason))
	}
}

func describeExpect(re *regexp.Regexp) string {
	if re.String() == DefaultExpect {
		return "the number 4 standing alone"
	}
	return "/" + re.String() + "/"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// call is one HTTP exchange whose response header has arrived.
type call struct {
	resp   *http.Response
	ctx    context.Context
	cancel context.CancelCauseFunc
	what   string // "POST /v1/chat/completions"
}

func (cl *call) close() {
	cl.resp.Body.Close()
	cl.cancel(nil)
}

// send makes one request under the time-to-first-byte limit. On failure it
// records unreachable or hang in res and returns nil.
func (c *Canary) send(ctx context.Context, method, path string, body []byte, res *Result) *call {
	what := method + " " + path
	rctx, cancel := context.WithCancelCause(ctx)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var connected atomic.Bool
	rctx2 := httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	})
	req, err := c.Client.NewRequest(rctx2, method, path, rd)
	if err != nil {
		cancel(nil)
		res.fail(CheckUnreachable, "%v", err)
		return nil
	}
	if c.Stream && path == chatPath {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	res.HTTPStatus, res.TTFB = 0, 0
	t0 := c.now()
	res.sent = t0
	limit := time.AfterFunc(c.TTFB, func() { cancel(errTTFB) })
	resp, err := c.Client.HTTP.Do(req)
	fired := !limit.Stop()
	res.TTFB = c.now().Sub(t0)
	if err == nil && fired {
		// The header and the limit arrived together; the limit wins, and
		// the body is unusable anyway.
		resp.Body.Close()
		err = errTTFB
	}
	if err != nil {
		cause := context.Cause(rctx)
		cancel(nil)
		switch {
		case ctx.Err() != nil && !errors.Is(context.Cause(ctx), errDeadline):
			// Cancelled from outside (SIGTERM); Run reports it.
		case errors.Is(cause, errDeadline) && connected.Load():
			res.fail(CheckHang, "%s: no response within the %s deadline", what, c.Deadline)
		case errors.Is(cause, errDeadline):
			res.fail(CheckUnreachable, "%s: could not connect within the %s deadline", what, c.Deadline)
		case errors.Is(cause, errTTFB) && connected.Load():
			res.fail(CheckHang, "%s: connected and sent the request, but no response header within %s (time-to-first-byte limit)", what, c.TTFB)
		case errors.Is(cause, errTTFB):
			res.fail(CheckUnreachable, "%s: could not connect within %s", what, c.TTFB)
		default:
			res.fail(CheckUnreachable, "%s: %s", what, netError(err))
		}
		return nil
	}
	return &call{resp: resp, ctx: rctx, cancel: cancel, what: what}
}

// netError is err without the *url.Error wrapper, which repeats the method
// and URL the caller already names.
func netError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// readBody reads a bounded body, classifying a failure in res.
func (c *Canary) readBody(cl *call, res *Result) ([]byte, bool) {
	data, err := io.ReadAll(io.LimitReader(cl.resp.Body, maxBodyBytes+1))
	if err != nil {
		if errors.Is(context.Cause(cl.ctx), errDeadline) {
			res.fail(CheckHang, "%s: response body not finished within the %s deadline", cl.what, c.Deadline)
		} else {
			res.fail(CheckBadResponse, "%s: reading the response body: %s", cl.what, netError(err))
		}
		return nil, false
	}
	if len(data) > maxBodyBytes {
		res.fail(CheckBadResponse, "%s: response body over %d bytes", cl.what, maxBodyBytes)
		return nil, false
	}
	return data, true
}

// httpError records a non-200 status with a short, secret-free excerpt.
func (c *Canary) httpError(cl *call, res *Result) {
	data, _ := io.ReadAll(io.LimitReader(cl.resp.Body, 4096))
	res.fail(CheckHTTPError, "%s: HTTP %d: %s", cl.what, cl.resp.StatusCode, excerpt(data, c.Secrets))
}

// decodeJSON decodes a 200 body into v, or records why it is not a usable
// JSON document: empty, an HTML page (a captive portal, a wrong service on
// the port), or not JSON.
func (c *Canary) decodeJSON(cl *call, data []byte, v any, res *Result) bool {
	ctype := cl.resp.Header.Get("Content-Type")
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		res.fail(CheckBadResponse, "%s: 200 with an empty body", cl.what)
		return false
	case isHTML(ctype, data):
		res.fail(CheckBadResponse, "%s: 200 with an HTML page instead of JSON (%s): %s", cl.what, orNone(ctype), excerpt(data, c.Secrets))
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		res.fail(CheckBadResponse, "%s: 200 but not JSON (%s): %s", cl.what, jsonError(err), excerpt(data, c.Secrets))
		return false
	}
	return true
}

// jsonError names what went wrong without echoing the document.
func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s where %s was expected at %q", te.Value, te.Type, te.Field)
	}
	return err.Error()
}

func isHTML(ctype string, data []byte) bool {
	if mt, _, err := mime.ParseMediaType(ctype); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
		return true
	}
	head := strings.ToLower(string(bytes.TrimSpace(data[:min(len(data), 64)])))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html")
}

const (
	modelsPath = "/v1/models"
	chatPath   = "/v1/chat/completions"
)

// sendOK sends the request and returns the call when the answer is a 200;
// otherwise it records the failure (unreachable, hang, http_error), closes
// the call and returns nil.
func (c *Canary) sendOK(ctx context.Context, method, path string, body []byte, res *Result) *call {
	cl := c.send(ctx, method, path, body, res)
	if cl == nil {
		return nil
	}
	res.HTTPStatus = cl.resp.StatusCode
	if cl.resp.StatusCode != http.StatusOK {
		c.httpError(cl, res)
		cl.close()
		return nil
	}
	return cl
}

// firstModel asks /v1/models for the model to use.
func (c *Canary) firstModel(ctx context.Context, res *Result) {
	cl := c.sendOK(ctx, http.MethodGet, modelsPath, nil, res)
	if cl == nil {
		return
	}
	defer cl.close()
	data, ok := c.readBody(cl, res)
	if !ok {
		return
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if !c.decodeJSON(cl, data, &list, res) {
		return
	}
	for _, m := range list.Data {
		if m.ID != "" {
			res.Model = m.ID
			return
		}
	}
	res.fail(CheckBadResponse, "%s lists no models (set --model to ask one by name)", cl.what)
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	Temperature float64       `json:"temperature"`
	MaxTokens   int           `json:"max_tokens"`
	Stream      bool          `json:"stream"`
	// StreamOptions asks for a final usage chunk (token counts).
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

func (c *Canary) requestBody(model string) []byte {
	r := chatRequest{
		Model:       model,
		Messages:    []chatMessage{{Role: "user", Content: c.Prompt}},
		Temperature: 0,
		MaxTokens:   c.MaxTokens,
		Stream:      c.Stream,
	}
	if c.Stream {
		r.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	b, _ := json.Marshal(r) // plain strings and numbers: cannot fail
	return b
}

type usage struct {
	PromptTokens     *int `json:"prompt_tokens"`
	CompletionTokens *int `json:"completion_tokens"`
}

func (u *usage) apply(res *Result) {
	if u == nil {
		return
	}
	if u.PromptTokens != nil {
		res.PromptTokens = *u.PromptTokens
	}
	if u.CompletionTokens != nil {
		res.CompletionTokens = *u.CompletionTokens
	}
}

// completion is the part of a chat completion the canary reads.
type completion struct {
	Choices []struct {
		Message *struct {
			Content json.RawMessage `json:"content"`
			// Reasoning is not the answer; it is measured, not judged.
			ReasoningContent string `json:"reasoning_content"`
			Reasoning        string `json:"reasoning"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// complete asks over plain JSON.
func (c *Canary) complete(ctx context.Context, res *Result) {
	cl := c.sendOK(ctx, http.MethodPost, chatPath, c.requestBody(res.Model), res)
	if cl == nil {
		return
	}
	defer cl.close()
	data, ok := c.readBody(cl, res)
	if !ok {
		return
	}
	var comp completion
	if !c.decodeJSON(cl, data, &comp, res) {
		return
	}
	if hasValue(comp.Error) {
		res.fail(CheckBadResponse, "%s: 200 with an error object: %s", cl.what, excerpt(comp.Error, c.Secrets))
		return
	}
	comp.Usage.apply(res)
	if len(comp.Choices) == 0 {
		res.fail(CheckBadResponse, "%s: 200 with no choices", cl.what)
		return
	}
	ch := comp.Choices[0]
	if ch.FinishReason != nil {
		res.FinishReason = *ch.FinishReason
	}
	if ch.Message == nil {
		res.fail(CheckBadResponse, "%s: 200 with no message in the first choice", cl.what)
		return
	}
	content, ok := contentText(ch.Message.Content)
	if !ok {
		res.fail(CheckBadResponse, "%s: message content is neither a string nor text parts: %s", cl.what, excerpt(ch.Message.Content, c.Secrets))
		return
	}
	if len(content) > maxAnswerBytes {
		content = content[:maxAnswerBytes]
	}
	res.setAnswer(content, len(ch.Message.ReasoningContent)+len(ch.Message.Reasoning))
}

// setAnswer records content as the answer, minus inline reasoning (see
// openai.Visible).
func (r *Result) setAnswer(content string, reasoningBytes int) {
	visible, inline := openai.Visible(content)
	r.Answered = true
	r.Answer = visible
	r.ReasoningBytes = reasoningBytes + inline
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

// hasValue reports whether a raw JSON field is present and not null.
func hasValue(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}
