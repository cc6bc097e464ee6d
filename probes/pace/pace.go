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
// Each measure is compared with its baseline, the median of the model's
// last --baseline-samples healthy samples (see Rules for how it resists a
// slow decline), and judged on its own channel:
//
//	ttft_degraded    TTFT above --ttft-factor x the baseline
//	decode_degraded  decode below --decode-factor x the baseline
//
// at --severity (warn), after 2 consecutive degraded samples, with one
// recovery notice. A sample is one of:
//
//	learning  the first --warmup samples of a model: learned, not judged (exit 0)
//	ok        judged and within the factors: learned (exit 0)
//	degraded  judged and past a factor: never learned (exit 1 at warn)
//	busy      another client shared the server during the sample: the
//	          primary's log shows its request (logbusy.go: the council's,
//	          Ollama's, llama-server's or uvicorn's lines), the server's
//	          metrics count it (serverbusy.go), or, where the server says
//	          nothing of its load, the primary's CPU shows it already working
//	          just before the request (cpubusy.go); measured and logged,
//	          never judged, never learned (exit 0)
//	skipped   the server was down, hung, stalled or answered an error: that
//	          is the guardian's and the canary's business; no alert on the
//	          pace channels, nothing learned (exit 3)
//
// A change of the served model id or of the server's system_fingerprint
// relearns the baseline (baseline_reset, info). A model the server says is
// not loaded is loaded first and the load timed on its own (cold.go).
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
	// CheckAuth: the council refused the probe's credentials (401/403):
	// a fault on our side, UNKNOWN, alerted at once.
	CheckAuth = "auth"
)

// New returns the pace probe.
func New() *probe.Probe {
	return &probe.Probe{
		Name:  "pace",
		Usage: "is the council as fast as it usually is? (time to first token and decode speed, every 15 min)",
		Description: "Streams one nonce-prefixed prompt of about --prompt-tokens tokens asking for --decode-tokens tokens of\n" +
			"counting, measures the time to first token and the decode speed, and compares them with a rolling,\n" +
			"poison-proof baseline per model: ttft_degraded and decode_degraded, each its own channel (warn after\n" +
			"2 consecutive degraded samples). Learning, busy and skipped samples are never judged.\n" +
			"Cost: one request of about 512 prompt + 128 generated tokens per tick.",
		Network:  true,
		Flags:    append(flags(), busyCPUFlags()...),
		Default:  alert.Policy{Threshold: 2, Cooldown: time.Hour},
		Policies: map[string]alert.Policy{CheckAuth: {Threshold: 1, Cooldown: time.Hour}},
		Tick:     tick,
	}
}
