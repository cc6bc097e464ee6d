package canary

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// chunk is the part of a chat.completion.chunk the canary reads.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content          *string `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
			Reasoning        *string `json:"reasoning"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// stream asks over server-sent events: every data event must parse, the
// content assembles (the empty role chunk carries none), the stream ends
// with "data: [DONE]" after a finish_reason, and no gap between events is
// longer than the stall limit. It records the time to the first content
// token and the generation rate.
func (c *Canary) stream(ctx context.Context, res *Result) {
	cl := c.sendOK(ctx, http.MethodPost, chatPath, c.requestBody(res.Model), res)
	if cl == nil {
		return
	}
	defer cl.close()
	if ctype := cl.resp.Header.Get("Content-Type"); !isEventStream(ctype) {
		// Not a stream at all: say what it is instead.
		data, ok := c.readBody(cl, res)
		if !ok {
			return
		}
		if c.decodeJSON(cl, data, new(json.RawMessage), res) {
			res.fail(CheckBadResponse, "%s: asked for a stream, got %s: %s", cl.what, orNone(ctype), excerpt(data, c.Secrets))
		}
		return
	}

	// The stall limit runs from the header to the first event and between
	// events; SSE comments (keep-alives) do not reset it, because a server
	// that pings without producing tokens is stalled all the same.
	stall := time.AfterFunc(c.Stall, func() { cl.cancel(errStall) })
	defer stall.Stop()

	var (
		content          strings.Builder
		reasoning        int
		tokens           int
		firstTok, endTok time.Time
		done             bool
	)
	rd := newSSEReader(cl.resp.Body, c.MaxEventBytes)
	for !done {
		data, err := rd.Next()
		if err != nil {
			c.streamError(cl, err, res)
			return
		}
		if !stall.Stop() {
			// The limit fired while this event arrived; the body is gone.
			c.streamError(cl, errStall, res)
			return
		}
		stall.Reset(c.Stall)
		if bytes.Equal(bytes.TrimSpace(data), []byte("[DONE]")) {
			done = true
			break
		}
		res.Chunks++
		var ch chunk
		if err := json.Unmarshal(data, &ch); err != nil {
			res.fail(CheckBadResponse, "%s: stream chunk %d is not JSON (%s): %s", cl.what, res.Chunks, jsonError(err), excerpt(data, c.Secrets))
			return
		}
		if hasValue(ch.Error) {
			res.fail(CheckBadResponse, "%s: stream chunk %d carries an error: %s", cl.what, res.Chunks, excerpt(ch.Error, c.Secrets))
			return
		}
		ch.Usage.apply(res)
		now := c.now()
		for i, choice := range ch.Choices {
			if i > 0 {
				break // the canary asks for one choice
			}
			d := choice.Delta
			produced := false
			if d.Content != nil && *d.Content != "" {
				if res.TTFT == 0 {
					res.TTFT = now.Sub(res.sent)
				}
				if content.Len() < maxAnswerBytes {
					content.WriteString((*d.Content)[:min(len(*d.Content), maxAnswerBytes-content.Len())])
				}
				produced = true
			}
			for _, r := range []*string{d.ReasoningContent, d.Reasoning} {
				if r != nil && *r != "" {
					reasoning += len(*r)
					produced = true
				}
			}
			if produced {
				tokens++
				if firstTok.IsZero() {
					firstTok = now
				}
				endTok = now
			}
			if choice.FinishReason != nil && *choice.FinishReason != "" {
				res.FinishReason = *choice.FinishReason
			}
		}
	}
	res.setAnswer(content.String(), reasoning)
	if res.CompletionTokens < 0 {
		// No usage chunk: one content or reasoning delta is one token in
		// every server the canary has met.
		res.CompletionTokens = tokens
	}
	if n, span := res.CompletionTokens, endTok.Sub(firstTok); n > 1 && span > 0 {
		res.TokensPerSecond = float64(n-1) / span.Seconds()
	}
	if res.FinishReason == "" {
		res.fail(CheckBadResponse, "%s: stream ended with [DONE] but no finish_reason after %d chunk(s)", cl.what, res.Chunks)
	}
}

// streamError classifies why the stream could not be read to [DONE].
func (c *Canary) streamError(cl *call, err error, res *Result) {
	cause := context.Cause(cl.ctx)
	switch {
	case errors.Is(err, errStall) || errors.Is(cause, errStall):
		res.fail(CheckStreamStall, "%s: stream stalled: no event for %s after %d chunk(s)", cl.what, c.Stall, res.Chunks)
	case errors.Is(cause, errDeadline):
		res.fail(CheckHang, "%s: stream not finished within the %s deadline (%d chunk(s) so far)", cl.what, c.Deadline, res.Chunks)
	case errors.Is(err, io.EOF):
		res.fail(CheckBadResponse, "%s: stream ended without data: [DONE] after %d chunk(s)", cl.what, res.Chunks)
	case errors.Is(err, io.ErrUnexpectedEOF):
		res.fail(CheckBadResponse, "%s: stream cut off mid-line after %d chunk(s)", cl.what, res.Chunks)
	case errors.Is(err, ErrEventTooLong):
		res.fail(CheckBadResponse, "%s: stream chunk %d: %v", cl.what, res.Chunks+1, err)
	default:
		res.fail(CheckBadResponse, "%s: reading the stream after %d chunk(s): %s", cl.what, res.Chunks, netError(err))
	}
}

func isEventStream(ctype string) bool {
	mt, _, err := mime.ParseMediaType(ctype)
	return err == nil && mt == "text/event-stream"
}
