package pace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/host/accesslog"
	"github.com/sanctum/council-probes/pkg/server/openai"
)

// ownSkew is how much earlier than the probe's clock says it sent its
// request the server may date the request's start: the access log has
// millisecond timestamps and durations, each cut, not rounded.
const ownSkew = 5 * time.Millisecond

// ownMargin, for access logs without durations: a completion dated this
// close to the last token may be the probe's own.
const ownMargin = 50 * time.Millisecond

// measured is one sample as taken from the server.
type measured struct {
	// Asked is the model the probe asked for: --model, or the server's
	// first listed id when --model is empty. Model and Fingerprint are
	// what the answer said it was (text.Ident already applied by the
	// client): the server's words, logged and watched, never a key.
	Asked              string
	Model, Fingerprint string
	Sample             sample
	TTFT, Total        time.Duration
	PrefillTPS         float64
	PromptTokens       int // -1 when the server did not say
	CompletionTokens   int
	TokensCounted      bool // no usage chunk: content chunks were counted
	Partial            bool // the deadline cut the stream; measured on what arrived
	FinishReason       string
	// TokenEvents counts the stream events that carried a token, whatever
	// the usage says; DecodeWhy says why the decode was not measured
	// although tokens came (they arrived in one read).
	TokenEvents int
	DecodeWhy   string
	// Answer is the visible answer (the count), ReasoningBytes how much
	// reasoning came with it, for the answer check.
	Answer         string
	ReasoningBytes int

	// Skip says why the sample cannot be judged by anyone (the server is
	// down, hung, stalled or answered an error); Err is the failure.
	Skip string
	Err  error
	// Busy counts other requests completed during the sample; BusyErr says
	// why the log could not be read ("" when it was, or when no log is
	// configured).
	Busy    int
	BusyErr string
	// BusyRequests counts other clients' requests the server's metrics
	// reported around the sample (otherRequests); BusyWhy says so.
	BusyRequests int
	BusyWhy      string
}

// busy says whether other work shared the server during the sample, and
// by which evidence.
func (m measured) busy() (bool, string) {
	switch {
	case m.Busy > 0:
		return true, busyByLog
	case m.BusyRequests > 0:
		return true, busyByRequests
	}
	return false, ""
}

// others is how many other requests the sample saw, by either evidence.
func (m measured) others() int { return max(m.Busy, m.BusyRequests) }

// sampler takes samples over Client (the side effect, for tests).
type sampler struct {
	Client *openai.Client
}

// take streams one answer and measures it.
func (sp sampler) take(ctx context.Context, s settings) measured {
	ctx, cancel := context.WithTimeout(ctx, s.Deadline)
	defer cancel()
	m := measured{PromptTokens: -1}
	model := s.Model
	if model == "" {
		id, _, err := sp.Client.ServedModel(ctx, "")
		if err != nil {
			m.Skip, m.Err = skipReason(err), err
			return m
		}
		model = id
	}
	req := openai.UserPrompt(model, buildPrompt(newNonce(), s.PromptTokens), s.DecodeTokens)
	req.Temperature = 0
	req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	res, err := sp.Client.ChatStream(ctx, req)
	m.Asked, m.Model, m.Fingerprint = model, res.Model, res.SystemFingerprint
	tm := res.Timings
	if err != nil {
		var e *openai.Error
		// A stream cut by the deadline while tokens were flowing is a very
		// slow server, exactly what this probe is for: measure what came.
		if !(errors.As(err, &e) && e.Limit == openai.LimitDeadline && res.CompletionTokens >= 2 && !tm.FirstToken.IsZero()) {
			m.Skip, m.Err = skipReason(err), err
			return m
		}
		m.Partial = true
	}
	m.TTFT, m.Total = tm.TTFT(), tm.Total()
	m.PromptTokens, m.CompletionTokens, m.TokensCounted = res.PromptTokens, res.CompletionTokens, res.TokensCounted
	m.FinishReason = res.FinishReason
	m.TokenEvents, m.Answer, m.ReasoningBytes = res.TokenEvents, res.Answer, res.ReasoningBytes
	if m.TTFT <= 0 || m.CompletionTokens < 1 {
		m.Skip = "no_tokens"
		m.Err = errors.New("the answer carried no token to time")
		return m
	}
	m.Sample.TTFT = m.TTFT.Seconds()
	if m.PromptTokens > 0 {
		m.PrefillTPS = float64(m.PromptTokens) / m.TTFT.Seconds()
	}
	switch d := tm.Decode(); {
	case m.CompletionTokens >= 2 && tm.TokenReads == 1:
		// Every token arrived in one read (a buffered answer): the gaps
		// are the client's parsing, not the server's decoding.
		m.DecodeWhy = fmt.Sprintf("all %d token events arrived in one read: the decode was timed by this client's parsing, not by the server", m.TokenEvents)
	case m.CompletionTokens >= 2 && d > 0:
		m.Sample.DecodeTPS = float64(m.CompletionTokens-1) / d.Seconds()
	}
	if s.PrimaryLog != "" {
		m.Busy, m.BusyErr = busyDuring(s, tm)
	}
	return m
}

// busyDuring counts the requests the primary's log shows completed while
// the sample ran (from the request to the end of the stream): each one was
// served at the same time. The probe's own request is in the log too, when
// the server has logged it by now; it is recognised and not counted (see
// ownRequest). A log that does not exist yet is not busy; one that cannot
// be read is reported, and the sample is judged as if not busy (the log is
// evidence of other work, not a precondition).
func busyDuring(s settings, tm openai.Timings) (int, string) {
	tail, err := accesslog.ReadTail(s.PrimaryLog, s.TailBytes)
	if accesslog.IsNotExist(err) {
		return 0, ""
	}
	if err != nil {
		return 0, err.Error()
	}
	cs := accesslog.Completed(tail, s.BusyMarker, s.BusyIgnore, tm.Start, tm.End)
	if ownRequest(cs, tm) >= 0 {
		return len(cs) - 1, ""
	}
	return len(cs), ""
}

// ownRequest returns the index of the probe's own request among cs (newest
// first), or -1. With durations in the log, it is the request that began
// between the probe sending it and the first token, and ended after the
// first token: another client's request would have to start in that same
// window and outlast the prefill to be taken for it, and then the sample is
// busy anyway by the other lines. Without durations, the newest completion
// dated within ownMargin of the last token (or after it) is taken as the
// probe's own: the client may read the last token after the server logged
// the request, so no finer line can be drawn from timestamps alone.
func ownRequest(cs []accesslog.Completion, tm openai.Timings) int {
	for i, c := range cs {
		if c.HasDuration {
			start := c.Start()
			if !start.Before(tm.Start.Add(-ownSkew)) && !start.After(tm.FirstToken) && !c.At.Before(tm.FirstToken.Add(-ownSkew)) {
				return i
			}
			continue
		}
		if !c.At.Before(tm.LastToken.Add(-ownMargin)) {
			return i
		}
	}
	return -1
}

// skipReason names the class of a failure for the skipped sample's event.
func skipReason(err error) string {
	if c := openai.ClassOf(err); c != "" {
		return string(c)
	}
	return "error"
}
