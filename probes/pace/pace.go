// Package pace is the council's speed probe: is the council as fast as it
// usually is? A server can get slower the longer it runs (a leak, swap, a
// model silently loaded on the CPU, a full KV cache) while still answering
// "2+2" correctly in time, so the canary passes a server ten times slower
// than usual. Once per tick the pace probe streams one answer and measures:
//
//	ttft        time from the request to the first content or reasoning token
//	prefill     prompt_tokens / ttft (tokens/s)
//	decode      (completion_tokens - 1) / (last token - first token) (tokens/s)
//	total       the whole request
//
// The prompt is about --prompt-tokens tokens long and starts with a random
// nonce, so no prefix or prompt cache can answer it; it asks for a long,
// easy answer (counting), --decode-tokens long, at temperature 0, with
// stream_options.include_usage so the token counts come from the server.
// Without a usage chunk the content chunks are counted (tokens_counted).
//
// Each measure is compared with its baseline, the median of the last
// --baseline-samples healthy samples, and with a long-term anchor, the best
// median of the first --baseline-samples judged samples (see baseline.go
// and anchor.go for how the two resist a slow decline and a leak), and
// judged on its own channel:
//
//	ttft_degraded    TTFT above --ttft-factor x the baseline or the anchor
//	decode_degraded  decode below --decode-factor x the baseline or the anchor
//
// at --severity (warn), after 2 consecutive degraded samples, with one
// recovery notice, sent only on a judged sample within the limits. A sample
// is one of:
//
//	learning     the first --warmup samples of a baseline: learned, not judged (exit 0)
//	ok           judged and within the factors: learned (exit 0)
//	degraded     judged and past a factor: never learned (exit 1 at warn)
//	busy         another client shared the server during the sample: the
//	             primary's log shows its request (logbusy.go: the council's,
//	             Ollama's, llama-server's or uvicorn's lines), the server's
//	             metrics count it (serverbusy.go), or, where the server says
//	             nothing of its load, the primary's CPU shows it already
//	             working just before the request (cpubusy.go); measured and
//	             logged, never judged, never learned (exit 0)
//	implausible  the server's token count is more than max_tokens, or more than
//	             2x off the token events that arrived: logged with both
//	             numbers, never judged, never learned (exit 0)
//	skipped      the server was down, hung, stalled or answered an error: that
//	             is the guardian's and the canary's business; no alert on the
//	             pace channels, nothing learned (exit 3)
//
// A stream whose tokens all arrived in one read (a buffering proxy) has no
// measurable decode speed: its TTFT is judged, its decode is not
// (decode_unmeasured says why). A model the server says is not loaded is
// loaded first and the load timed on its own (cold.go).
//
// The server is a witness, not a judge. The baseline's key is the
// operator's: --model and the backend kind (the server's first listed id
// only when --model is empty). What the answers say the server is (their
// model id and system_fingerprint) never selects or resets it: a change is
// logged (identity_changed), and more than 3 in 24 h warn on their own
// channel. A new --model, a new backend kind or --baseline-reset relearns
// (baseline_reset, info) and leaves the channels as they are. Three more
// channels, each alerted at once (warn):
//
//	identity_unstable  the server's identity changed more than 3 times in 24 h
//	not_judged         --max-unjudged samples in a row taken but not judged
//	                   (busy from the metrics, the log or the CPU, implausible),
//	                   and why
//	degenerate         the answer to the request to count is not a count (at
//	                   least 80% of its numbers continue the count from 1, and at
//	                   least half the numbers its tokens can hold); off with
//	                   --no-check-answer
package pace

import (
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/probe"
)

// The pace probe's channels.
const (
	CheckTTFTDegraded   = "ttft_degraded"
	CheckDecodeDegraded = "decode_degraded"
	// CheckIdentityUnstable (warn): what the server says it is (the model
	// id or system_fingerprint in its answers, its first listed id when
	// --model is empty, its detected kind) changed more than 3 times in
	// 24 h.
	CheckIdentityUnstable = "identity_unstable"
	// CheckNotJudged (warn): --max-unjudged samples in a row were taken
	// but not judged (busy, implausible).
	CheckNotJudged = "not_judged"
	// CheckDegenerate (warn): the answer to the request to count is not a
	// count (junk, a loop).
	CheckDegenerate = "degenerate"
	// CheckAuth: the council refused the probe's credentials (401/403):
	// a fault on our side, UNKNOWN, alerted at once.
	CheckAuth = probe.CheckAuth
)

// New returns the pace probe.
func New() *probe.Probe {
	return &probe.Probe{
		Name:  "pace",
		Usage: "is the council as fast as it usually is? (time to first token and decode speed, every 15 min)",
		Description: "Streams one nonce-prefixed prompt of about --prompt-tokens tokens asking for --decode-tokens tokens of\n" +
			"counting, measures the time to first token and the decode speed, and compares them with a rolling,\n" +
			"poison-proof baseline and a long-term anchor per --model: ttft_degraded and decode_degraded, each its\n" +
			"own channel (warn after 2 consecutive degraded samples). Learning, busy, implausible and skipped\n" +
			"samples are never judged; what the server says it is never resets the baseline. identity_unstable,\n" +
			"not_judged (--max-unjudged in a row) and degenerate (the answer is not a count) warn at once.\n" +
			"Cost: one request of about 512 prompt + 128 generated tokens per tick.",
		Network: true,
		Flags:   flags(),
		Default: alert.Policy{Threshold: 2, Cooldown: time.Hour},
		// The three watch channels count for themselves (24 h of changes,
		// --max-unjudged samples, one junk answer): they alert at once.
		Policies: map[string]alert.Policy{
			CheckAuth:             {Threshold: 1, Cooldown: time.Hour},
			CheckIdentityUnstable: {Threshold: 1, Cooldown: 6 * time.Hour},
			CheckNotJudged:        {Threshold: 1, Cooldown: 6 * time.Hour},
			CheckDegenerate:       {Threshold: 1, Cooldown: time.Hour},
		},
		Tick: tick,
	}
}
