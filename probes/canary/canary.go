// Package canary is the council's correctness probe: once per tick it asks
// the council "What is 2+2? Respond with only the number." and checks that the
// answer is 4, over plain JSON or (--stream) over server-sent events.
//
// It exists because a liveness check cannot see the worst failure (incident
// I1 in docs/DESIGN.md): the
// port answered and /v1/models said 200 in 25 ms while chat completions hung
// for eight minutes. So the whole request runs under a hard deadline, the
// response header under a separate time-to-first-byte limit, and each way the
// request can go wrong is its own check and alert channel, in the order a
// request meets them:
//
//	unreachable   no connection (refused, reset, TLS handshake failed)
//	hang          connected, but no response header within --ttfb-timeout,
//	              or the request not finished within --deadline
//	http_error    a status other than 200 (with a short, secret-free excerpt)
//	stream_stall  (--stream) no event for longer than --stall-timeout
//	bad_response  200 but unusable: empty, HTML, not JSON, no choices, empty
//	              content, a broken stream or one without [DONE]/finish_reason
//	wrong_answer  the answer does not match --expect, or (default --expect)
//	              is not short, whole and first saying 4 (answer.go)
//
// A failure at one stage shows the earlier stages passed, so their channels
// close (one "recovered" alert each if they had alerted); later stages were
// not reached and keep their state. A channel alerts at error after two
// consecutive misses, at most once per 30 minutes while it keeps failing,
// and sends one info "recovered" alert when it passes again.
//
// The answer judged is the message content with inline reasoning
// (<think>...</think>) removed; a reasoning_content field is measured
// (reasoning_bytes), never judged. The canary never restarts anything and
// never runs launchctl: remediation is the guardian's job.
//
// Events: canary_ok (check wrong_answer: the last stage, so all passed) or
// canary_fail (check = the failing stage), with latency_ms, ttfb_ms,
// ttft_ms and tokens_per_second (stream), transport, model, the answer
// (truncated to 200 bytes), answer_sha256 (of the whole answer),
// finish_reason, prompt_tokens, completion_tokens and http_status.
package canary

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// New returns the canary probe.
func New() *probe.Probe {
	return &probe.Probe{
		Name:  "canary",
		Usage: "ask the council 2+2 and check that it answers 4, in time (every 10 min)",
		Description: "POSTs a fixed question to /v1/chat/completions (or streams it with --stream) under a hard deadline\n" +
			"and a time-to-first-byte limit, and reports unreachable, hang, http_error, stream_stall, bad_response\n" +
			"or wrong_answer, each on its own alert channel (error after 2 consecutive misses, 30 min cooldown).\n" +
			"It never restarts anything.",
		Network: true,
		Flags:   flags(),
		Default: alert.Policy{Threshold: 2, Cooldown: 30 * time.Minute},
		Tick:    tick,
	}
}

// tick runs the canary once and reports it.
func tick(ctx context.Context, t *probe.Tick) error {
	s, err := settingsFrom(t.C)
	if err != nil {
		return err
	}
	res, err := runFor(t, s).Run(ctx)
	if err != nil {
		return err
	}
	if res.Check == CheckHang || res.Check == CheckStreamStall {
		res.Detail += cpuVerdict(ctx, t, s) // busy or idle, for the human
	}
	report(t, res)
	return nil
}

// runFor is the run the settings describe, over the tick's transport
// and clock.
func runFor(t *probe.Tick, s settings) *canary {
	can := &canary{
		Client: t.Client, Model: t.Common.Model, Prompt: s.Prompt, Expect: s.Expect,
		MaxTokens: s.MaxTokens, MaxWords: s.MaxWords, Stream: s.Stream,
		Deadline: s.Deadline, TTFB: s.TTFB, Stall: s.Stall, LoadAllowance: s.LoadAllowance, Now: t.Now,
	}
	if t.Server != nil {
		can.Resident = func(ctx context.Context, model string) (bool, bool) {
			return t.ModelResident(ctx, model, residencyTimeout)
		}
	}
	return can
}

// report logs the result and feeds the alert channels.
func report(t *probe.Tick, res result) {
	t.Perf("latency_ms", float64(res.Latency.Milliseconds()), "ms")
	if res.Stream && res.TTFT > 0 {
		t.Perf("ttft_ms", float64(res.TTFT.Milliseconds()), "ms")
	}
	attrs := res.Attrs()
	if res.OK() {
		for _, check := range passedBefore(CheckWrongAnswer, res.Stream) {
			t.PassQuiet(check)
		}
		t.Pass(CheckWrongAnswer, "canary_ok", attrs...)
		t.OKSummary(okSummary(res, t.Client.Kind))
		return
	}
	for _, check := range passedBefore(res.Check, res.Stream) {
		t.PassQuiet(check)
	}
	t.Fail(res.Check, "canary_fail", alert.Error, res.Detail, attrs...)
}

func okSummary(res result, kind transport.Kind) string {
	// The model id and the answer are the server's words: redacted.
	shown := text.Cut(strings.TrimSpace(res.Answer), 40)
	s := fmt.Sprintf("%s answered %q in %d ms (%s", redact.String(res.Model), redact.String(shown), res.Latency.Milliseconds(), kind)
	if res.Stream {
		s += fmt.Sprintf(", stream, ttft %d ms", res.TTFT.Milliseconds())
		if res.TokensPerSecond > 0 {
			s += fmt.Sprintf(", %.1f tok/s", res.TokensPerSecond)
		}
	}
	if res.Cold {
		s += fmt.Sprintf(", the model was not loaded: %s allowed to load it", res.LoadAllowance)
	}
	return s + ")"
}
