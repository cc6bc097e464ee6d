// Package canary is the council's correctness probe: once per tick it asks
// the council "What is 2+2? Respond with only the number." and checks that the
// answer is 4, over plain JSON or (--stream) over server-sent events.
//
// It exists because a liveness check cannot see the seed's worst failure: the
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
//	wrong_answer  the answer does not match --expect
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
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/alert"
	"github.com/sanctum/council-probes/pkg/openai"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/redact"
	"github.com/sanctum/council-probes/pkg/transport"
)

// Defaults of the canary's own settings.
const (
	DefaultMaxTokens    = 256
	DefaultDeadline     = 75 * time.Second
	DefaultTTFBTimeout  = 45 * time.Second
	DefaultStallTimeout = 30 * time.Second
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
		Interval: 10 * time.Minute,
		Network:  true,
		Flags:    append(flags(), cpuFlags()...),
		Default:  alert.Policy{Threshold: 2, Cooldown: 30 * time.Minute},
		Tick:     tick,
	}
}

func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "prompt", EnvVars: []string{"COUNCIL_CANARY_PROMPT"}, Value: DefaultPrompt,
			Usage: "the question to ask"},
		&cli.StringFlag{Name: "expect", EnvVars: []string{"COUNCIL_CANARY_EXPECT"}, Value: DefaultExpect,
			Usage: "regexp (RE2) the answer must match; the default is the number 4 standing alone (\"4\", \"4.\", \"The answer is 4\" pass; \"14\", \"40\" do not)"},
		&cli.IntFlag{Name: "max-tokens", EnvVars: []string{"COUNCIL_CANARY_MAX_TOKENS"}, Value: DefaultMaxTokens,
			Usage: "max_tokens of the request; leave room for models that think before answering"},
		&cli.BoolFlag{Name: "stream", EnvVars: []string{"COUNCIL_CANARY_STREAM"},
			Usage: "ask over server-sent events and check the stream (chunks, [DONE], finish_reason, stalls, time to first token)"},
		&cli.DurationFlag{Name: "deadline", EnvVars: []string{"COUNCIL_CANARY_DEADLINE"}, Value: DefaultDeadline,
			Usage: "hard limit on the whole request, model lookup included"},
		&cli.DurationFlag{Name: "ttfb-timeout", EnvVars: []string{"COUNCIL_CANARY_TTFB_TIMEOUT"}, Value: DefaultTTFBTimeout,
			Usage: "limit on the wait for a response header (without --stream that is the whole generation)"},
		&cli.DurationFlag{Name: "stall-timeout", EnvVars: []string{"COUNCIL_CANARY_STALL_TIMEOUT"}, Value: DefaultStallTimeout,
			Usage: "(--stream) longest allowed gap between two stream events"},
	}
}

// fromFlags builds the Canary from the tick's settings.
func fromFlags(t *probe.Tick) (*Canary, error) {
	c := t.C
	expect, err := regexp.Compile(c.String("expect"))
	if err != nil {
		return nil, fmt.Errorf("bad --expect: %w", err)
	}
	can := &Canary{
		Client:    t.Client,
		Model:     t.Common.Model,
		Prompt:    c.String("prompt"),
		Expect:    expect,
		MaxTokens: c.Int("max-tokens"),
		Stream:    c.Bool("stream"),
		Deadline:  c.Duration("deadline"),
		TTFB:      c.Duration("ttfb-timeout"),
		Stall:     c.Duration("stall-timeout"),
		Now:       t.Now,
	}
	switch {
	case strings.TrimSpace(can.Prompt) == "":
		return nil, fmt.Errorf("bad --prompt: empty")
	case can.MaxTokens < 1:
		return nil, fmt.Errorf("bad --max-tokens %d: want at least 1", can.MaxTokens)
	case can.Deadline <= 0:
		return nil, fmt.Errorf("bad --deadline %s: want a positive duration", can.Deadline)
	case can.TTFB <= 0:
		return nil, fmt.Errorf("bad --ttfb-timeout %s: want a positive duration", can.TTFB)
	case can.Stall <= 0:
		return nil, fmt.Errorf("bad --stall-timeout %s: want a positive duration", can.Stall)
	}
	return can, nil
}

// tick runs the canary once and reports it.
func tick(ctx context.Context, t *probe.Tick) error {
	can, err := fromFlags(t)
	if err != nil {
		return err
	}
	res, err := can.Run(ctx)
	if err != nil {
		return err
	}
	if res.Check == CheckHang || res.Check == CheckStreamStall {
		res.Detail += cpuVerdict(ctx, t) // busy or idle, for the human
	}
	report(t, res)
	return nil
}

// report logs the result and feeds the alert channels.
func report(t *probe.Tick, res Result) {
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

func okSummary(res Result, kind transport.Kind) string {
	// The model id and the answer are the server's words: redacted.
	shown := openai.Truncate(strings.TrimSpace(res.Answer), 40)
	s := fmt.Sprintf("%s answered %q in %d ms (%s", redact.String(res.Model), redact.String(shown), res.Latency.Milliseconds(), kind)
	if res.Stream {
		s += fmt.Sprintf(", stream, ttft %d ms", res.TTFT.Milliseconds())
		if res.TokensPerSecond > 0 {
			s += fmt.Sprintf(", %.1f tok/s", res.TokensPerSecond)
		}
	}
	return s + ")"
}
