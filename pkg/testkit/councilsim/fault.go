package councilsim

import (
	"fmt"
	"strings"
)

// Fault is a failure mode the simulator can inject. The zero value is
// FaultNone.
type Fault string

// The faults. Unless noted, a fault touches only /v1/chat/completions and
// /v1/models keeps answering normally, because that split is exactly what a
// liveness check alone cannot see.
const (
	// FaultNone serves normally.
	FaultNone Fault = "none"
	// FaultDown closes the serving listeners (plain and mTLS), so
	// connections are refused. Any other fault re-opens them on the same
	// ports. The control listener stays up.
	FaultDown Fault = "down"
	// FaultHang makes chat requests hang until the client gives up, while
	// /v1/models still answers 200 at once: the real incident.
	FaultHang Fault = "hang"
	// FaultHangAll makes every serving endpoint hang.
	FaultHangAll Fault = "hang_all"
	// FaultSlow delays the first byte of every chat response by SlowDelay.
	FaultSlow Fault = "slow"
	// Fault500 answers 500 with a JSON error body on every endpoint.
	Fault500 Fault = "500"
	// FaultWrong answers "5" to everything.
	FaultWrong Fault = "wrong"
	// FaultFourteen answers "14" to everything.
	FaultFourteen Fault = "fourteen"
	// FaultEmpty answers 200 with an empty body on every endpoint.
	FaultEmpty Fault = "empty"
	// FaultHTML answers 200 text/html on every endpoint, as a captive
	// portal or a wrong service on the port would.
	FaultHTML Fault = "html"
	// FaultSSEStall sends the first couple of stream chunks, then stalls
	// until the client gives up. Non-streaming chat is unaffected.
	FaultSSEStall Fault = "sse_stall"
	// FaultNoDone sends a complete stream but never the final
	// "data: [DONE]". Non-streaming chat is unaffected.
	FaultNoDone Fault = "no_done"
	// FaultGarbage answers with garbage tokens (control characters,
	// replacement characters, <unk>).
	FaultGarbage Fault = "garbage"
	// FaultDiverge answers like FaultNone for the first DivergeAfter tokens,
	// then differently, for parity tests.
	FaultDiverge Fault = "diverge"
)

// Faults lists every fault, in documentation order.
var Faults = []Fault{
	FaultNone, FaultDown, FaultHang, FaultHangAll, FaultSlow, Fault500,
	FaultWrong, FaultFourteen, FaultEmpty, FaultHTML, FaultSSEStall,
	FaultNoDone, FaultGarbage, FaultDiverge,
}

// ParseFault returns the fault named s; the empty string is FaultNone.
func ParseFault(s string) (Fault, error) {
	if s == "" {
		return FaultNone, nil
	}
	for _, f := range Faults {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown fault %q (want one of %s)", s, FaultNames())
}

// FaultNames returns the fault names joined by "|", for help texts.
func FaultNames() string {
	names := make([]string, len(Faults))
	for i, f := range Faults {
		names[i] = string(f)
	}
	return strings.Join(names, "|")
}
