package pace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/server/openai"
)

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
	// CPU is the primary's CPU just before the request (cpubusy.go).
	CPU cpuBefore
	// Cold: the model was not loaded before the sample, so the probe
	// loaded it first; Load is how long that took (cold.go).
	Cold bool
	Load time.Duration
}

// busy says whether other work shared the server during the sample, and
// by which evidence.
func (m measured) busy() (bool, string) {
	switch {
	case m.Busy > 0:
		return true, busyByLog
	case m.BusyRequests > 0:
		return true, busyByRequests
	case m.CPU.Busy:
		return true, busyByCPU
	}
	return false, ""
}

// others is how many other requests the sample saw, by either evidence.
func (m measured) others() int { return max(m.Busy, m.BusyRequests) }

// sampler takes samples over Client (the side effect, for tests).
type sampler struct {
	Client *openai.Client
	// Resident says whether the server has model loaded, where its
	// backend can tell (known); nil: it cannot. See warmIfCold.
	Resident func(ctx context.Context, model string) (resident, known bool)
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
	m.Asked = model
	if !sp.warmIfCold(ctx, model, &m) {
		return m
	}
	req := openai.UserPrompt(model, buildPrompt(newNonce(), s.PromptTokens), s.DecodeTokens)
	req.Temperature = 0
	req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	mark := markLog(s)
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
		m.Busy, m.BusyErr = busyDuring(s, mark, tm)
	}
	return m
}

// skipReason names the class of a failure for the skipped sample's event.
func skipReason(err error) string {
	if c := openai.ClassOf(err); c != "" {
		return string(c)
	}
	return "error"
}
