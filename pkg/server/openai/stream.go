package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// chunk is the part of a chat.completion.chunk this package reads.
type chunk struct {
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Delta struct {
			Content          *string `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
			Reasoning        *string `json:"reasoning"`
		} `json:"delta"`
		Logprobs     *logprobsWire `json:"logprobs"`
		FinishReason *string       `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// ChatStream asks for a completion over server-sent events and reads the
// stream to "data: [DONE]". Every data event must be a JSON chunk; content
// and reasoning deltas of the first choice assemble; the stream must end
// with [DONE] after a finish_reason; no wait for an event (after the header,
// and between data events) may exceed Limits.Stall. The usage chunk
// (stream_options.include_usage, asked unless req.StreamOptions is set)
// gives the token counts; without it CompletionTokens counts the token
// events. The result holds what was read even when an error is returned.
func (c *Client) ChatStream(ctx context.Context, req ChatRequest) (ChatResult, error) {
	res := newChatResult()
	req.Stream = true
	if req.StreamOptions == nil {
		req.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	x, err := c.postChat(ctx, req, "text/event-stream", &res)
	if err != nil {
		return res, err
	}
	defer x.close()
	if ctype := x.resp.Header.Get("Content-Type"); !isEventStream(ctype) {
		// Not a stream at all: say what it is instead.
		data, err := c.readBody(x)
		if err != nil {
			return res, err
		}
		if err := decodeJSON(x, data, new(json.RawMessage)); err != nil {
			return res, err
		}
		e := x.fail(BadResponse, ErrNotStream, "asked for a stream, got %s: %s", orNone(ctype), excerpt(data))
		e.Body = excerpt(data)
		return res, e
	}
	err = c.readStream(x, &res)
	res.Timings.End = c.now()
	if e, ok := err.(*Error); ok {
		e.Chunks = res.Chunks
	}
	return res, err
}

// readStream reads the events of x into res.
func (c *Client) readStream(x *exchange, res *ChatResult) error {
	var stall *time.Timer
	if c.Limits.Stall > 0 {
		stall = time.AfterFunc(c.Limits.Stall, func() { x.cancel(errStall) })
		defer stall.Stop()
	}
	body := &readCounter{r: x.resp.Body}
	a := &assembly{res: res, body: body, maxText: int(c.maxBody()), maxGaps: c.MaxGaps}
	if a.maxGaps <= 0 {
		a.maxGaps = DefaultMaxGaps
	}
	defer a.finish()
	rd := newSSEReader(body, c.MaxEvent)
	for {
		ev, err := rd.Next()
		if err != nil {
			return c.streamError(x, err, res)
		}
		if ev.Comment {
			res.Comments++
			continue
		}
		if stall != nil {
			if !stall.Stop() {
				// The limit fired while this event arrived; the body is gone.
				return c.streamError(x, errStall, res)
			}
			stall.Reset(c.Limits.Stall)
		}
		if bytes.Equal(bytes.TrimSpace(ev.Data), []byte("[DONE]")) {
			break
		}
		res.Chunks++
		var ch chunk
		if err := json.Unmarshal(ev.Data, &ch); err != nil {
			e := x.fail(BadResponse, ErrNotJSON, "stream chunk %d is not JSON (%s): %s", res.Chunks, jsonError(err), excerpt(ev.Data))
			e.Body = excerpt(ev.Data)
			return e
		}
		if hasValue(ch.Error) {
			e := x.fail(BadResponse, ErrServerError, "stream chunk %d carries an error: %s", res.Chunks, excerpt(ch.Error))
			e.Body = excerpt(ch.Error)
			return e
		}
		a.add(&ch, c.now())
	}
	if res.FinishReason == "" {
		return x.fail(BadResponse, ErrNoFinishReason, "stream ended with [DONE] but no finish_reason after %d chunk(s)", res.Chunks)
	}
	return nil
}

// assembly is a stream's answer as its chunks arrive: the content and
// reasoning deltas of the first choice (each capped at maxText), the
// token events and when they came, the server's model and fingerprint.
type assembly struct {
	res     *ChatResult
	body    *readCounter
	maxText int
	maxGaps int

	content, reasoning       strings.Builder
	reasoningBytes           int
	tokens                   int
	rawModel, rawFingerprint string
	tokenRead                int // the read that delivered the last token event
}

// add takes one chunk, read at now.
func (a *assembly) add(ch *chunk, now time.Time) {
	res := a.res
	// The server's words about itself: sanitised and bounded as they
	// enter (text.Ident), once per new value.
	if ch.Model != "" && ch.Model != a.rawModel {
		a.rawModel, res.Model = ch.Model, text.Ident(ch.Model)
	}
	if ch.SystemFingerprint != "" && ch.SystemFingerprint != a.rawFingerprint {
		a.rawFingerprint, res.SystemFingerprint = ch.SystemFingerprint, text.Ident(ch.SystemFingerprint)
	}
	ch.Usage.apply(res)
	if len(ch.Choices) == 0 {
		return
	}
	choice := ch.Choices[0] // one choice is asked for
	d := choice.Delta
	produced := false
	if d.Content != nil && *d.Content != "" {
		if res.Timings.FirstContent.IsZero() {
			res.Timings.FirstContent = now
		}
		appendCapped(&a.content, *d.Content, a.maxText)
		produced = true
	}
	for _, r := range []*string{d.ReasoningContent, d.Reasoning} {
		if r != nil && *r != "" {
			a.reasoningBytes += len(*r)
			appendCapped(&a.reasoning, *r, a.maxText)
			produced = true
		}
	}
	if produced {
		a.tokens++
		res.TokenEvents++
		res.Timings.token(now, a.maxGaps)
		if a.body.reads != a.tokenRead {
			a.tokenRead = a.body.reads
			res.Timings.TokenReads++
		}
	}
	if toks := choice.Logprobs.tokens(); len(toks) > 0 && len(res.LogprobTokens) < a.maxText {
		res.LogprobTokens = append(res.LogprobTokens, toks...)
	}
	if choice.FinishReason != nil && *choice.FinishReason != "" {
		res.FinishReason = *choice.FinishReason
	}
}

// finish sets what the stream said, however it ended.
func (a *assembly) finish() {
	a.res.setContent(a.content.String(), a.reasoning.String(), a.reasoningBytes)
	if a.res.CompletionTokens < 0 {
		// No usage chunk: one content or reasoning event is one token
		// in every server the probes have met.
		a.res.CompletionTokens, a.res.TokensCounted = a.tokens, true
	}
}

// readCounter counts the reads of a stream's body that returned data, so
// the client can tell token events that arrived apart from events that
// arrived together (a buffered answer, sent in one write).
type readCounter struct {
	r     io.Reader
	reads int
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.reads++
	}
	return n, err
}

// appendCapped appends s to b up to max bytes in all.
func appendCapped(b *strings.Builder, s string, max int) {
	if room := max - b.Len(); room > 0 {
		b.WriteString(s[:min(len(s), room)])
	}
}

// streamError classifies why the stream could not be read to [DONE].
func (c *Client) streamError(x *exchange, err error, res *ChatResult) error {
	cause := context.Cause(x.ctx)
	var e *Error
	switch {
	case errors.Is(err, errStall) || errors.Is(cause, errStall):
		e = x.fail(StreamStall, errStall, "stream stalled: no event for %s after %d chunk(s)", c.Limits.Stall, res.Chunks)
		e.Limit = LimitStall
	case deadlineHit(x.parent):
		e = x.fail(Hang, context.DeadlineExceeded, "stream not finished within the deadline (%d chunk(s) so far)", res.Chunks)
		e.Limit = LimitDeadline
	case errors.Is(err, io.EOF):
		e = x.fail(BadResponse, ErrNoDone, "stream ended without data: [DONE] after %d chunk(s)", res.Chunks)
	case errors.Is(err, io.ErrUnexpectedEOF):
		e = x.fail(BadResponse, err, "stream cut off mid-line after %d chunk(s)", res.Chunks)
	case errors.Is(err, ErrEventTooLong):
		e = x.fail(BadResponse, err, "stream chunk %d: %v", res.Chunks+1, err)
	default:
		e = x.fail(BadResponse, err, "reading the stream after %d chunk(s): %s", res.Chunks, netError(err))
	}
	return e
}

func isEventStream(ctype string) bool {
	mt, _, err := mime.ParseMediaType(ctype)
	return err == nil && mt == "text/event-stream"
}
