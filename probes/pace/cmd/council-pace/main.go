// The council-pace command asks: is the council as fast as it usually is?
// Once per tick it streams one nonce-prefixed prompt (about 512 tokens)
// asking for 128 tokens of counting, measures the time to first token and
// the decode speed, and compares them with the model's rolling baseline
// and its long-term anchor.
// It is run by launchd every 15 minutes; one run is one tick.
//
// Usage:
//
//	council-pace [flags]
//
// Its own flags (each also an environment variable; see --help for the
// common ones: --url, --mtls-url, --transport, --model, --log-file, ...):
//
//	--prompt-tokens     COUNCIL_PACE_PROMPT_TOKENS     about how long the prompt is (default 512)
//	--decode-tokens     COUNCIL_PACE_DECODE_TOKENS     max_tokens, the decode measured (default 128)
//	--baseline-samples  COUNCIL_PACE_BASELINE_SAMPLES  healthy samples the baseline median is over (default 96)
//	--warmup            COUNCIL_PACE_WARMUP            samples that only learn (default 6)
//	--ttft-factor       COUNCIL_PACE_TTFT_FACTOR       degraded above this x the usual TTFT (default 2.5)
//	--decode-factor     COUNCIL_PACE_DECODE_FACTOR     degraded below this x the usual decode speed (default 0.5)
//	--baseline-ttft     COUNCIL_PACE_BASELINE_TTFT     pin the TTFT baseline (e.g. 400ms)
//	--baseline-decode   COUNCIL_PACE_BASELINE_DECODE   pin the decode baseline (tokens/s)
//	--baseline-reset    COUNCIL_PACE_BASELINE_RESET    start the baseline and its anchor afresh (once, by hand)
//	--max-unjudged      COUNCIL_PACE_MAX_UNJUDGED      warn on not_judged after this many in a row (default 8)
//	--no-check-answer   COUNCIL_PACE_NO_CHECK_ANSWER   do not check that the answer is a count
//	--severity          COUNCIL_PACE_SEVERITY          warn|error|critical (default warn)
//	--deadline          COUNCIL_PACE_DEADLINE          hard limit on the sample (default 3m)
//	--stall-timeout     COUNCIL_PACE_STALL_TIMEOUT     longest gap between stream events (default 30s)
//	--primary-log       COUNCIL_PRIMARY_LOG            the primary's access log, for the busy scan
//
// Exit status follows the Nagios convention: 0 healthy, learning, busy or
// implausible; 1 degraded, or a warning on identity_unstable, not_judged or
// degenerate (at the default warn severity); 3 skipped (the server was
// down, hung or answered an error: the guardian's and canary's business)
// or the state could not be determined (bad configuration, previous tick
// still running).
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/pace"
)

func main() { os.Exit(pace.New().Run(os.Args)) }
