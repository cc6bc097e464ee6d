package councilsim

import (
	"net/http"
)

// Faults of a hostile or merely unusual server, kept in their own file.
const (
	// FaultEchoAuth echoes the request's Authorization header back: as the
	// first model id /v1/models lists (and chat accepts that id), and as
	// the chat answer. A probe that shows either without redaction writes
	// the token into its log, state and alerts.
	FaultEchoAuth Fault = "echo_auth"
	// FaultSSECR streams with bare CR line endings ("data: x\r\r"), which
	// the SSE format allows. Non-streaming chat is unaffected.
	FaultSSECR Fault = "sse_cr"
)

func init() { Faults = append(Faults, FaultEchoAuth, FaultSSECR) }

// echoed is what FaultEchoAuth sends back: the Authorization header, or a
// marker when the request had none (mTLS).
func echoed(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		return a
	}
	return "no-authorization-header"
}

// listedModels are the ids /v1/models lists under the current fault.
func (s *Sim) listedModels(r *http.Request) []string {
	switch f := s.Fault(); {
	case f == FaultEchoAuth:
		return append([]string{echoed(r)}, s.models...)
	case f == FaultHostileIDs || f == FaultHugeIDs:
		return append([]string{s.selfWord(s.models[0])}, s.models...)
	}
	return s.models
}

// servesModel reports whether chat accepts id under the current fault.
func (s *Sim) servesModel(r *http.Request, id string) bool {
	f := s.Fault()
	return s.hasModel(id) || (f == FaultEchoAuth && id == echoed(r)) || liesAboutItself(f)
}

// echoAnswer is FaultEchoAuth's chat answer.
func echoAnswer(r *http.Request) string {
	return "you sent: " + echoed(r)
}

// eventEnd ends an SSE line under fault: "\r" for FaultSSECR, else "\n".
func eventEnd(fault Fault) string {
	if fault == FaultSSECR {
		return "\r"
	}
	return "\n"
}
