// The council-canary command asks the council LLM server "What is 2+2?
// Respond with only the number." and checks that it answers 4, in time. It is
// run by launchd every 10 minutes; one run is one tick.
//
// Usage:
//
//	council-canary [flags]
//
// Its own flags (each also an environment variable; see --help for the
// common ones: --url, --mtls-url, --transport, --model, --log-file, ...):
//
//	--prompt         COUNCIL_CANARY_PROMPT        the question
//	--expect         COUNCIL_CANARY_EXPECT        regexp the answer must match (default: 4 standing alone)
//	--max-tokens     COUNCIL_CANARY_MAX_TOKENS    max_tokens (default 256)
//	--stream         COUNCIL_CANARY_STREAM        ask over server-sent events
//	--deadline       COUNCIL_CANARY_DEADLINE      whole-request limit (default 75s)
//	--ttfb-timeout   COUNCIL_CANARY_TTFB_TIMEOUT  response-header limit (default 45s)
//	--stall-timeout  COUNCIL_CANARY_STALL_TIMEOUT longest gap between stream events (default 30s)
//
// Exit status follows the Nagios convention: 0 the answer was right, 2 a
// check failed (unreachable, hang, http_error, stream_stall, bad_response,
// wrong_answer), 3 the state could not be determined (bad configuration,
// partial cert set, previous tick still running).
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/canary"
)

func main() { os.Exit(canary.New().Run(os.Args)) }
