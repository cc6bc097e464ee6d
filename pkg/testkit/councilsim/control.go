package councilsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// FaultRequest is the body of POST /fault on the control listener. Absent
// fields are left unchanged.
type FaultRequest struct {
	Fault        *Fault    `json:"fault,omitempty"`
	SlowDelay    *Duration `json:"slow_delay,omitempty"`
	DivergeAfter *int      `json:"diverge_after,omitempty"`
	// TTFT, TokenDelay and Fingerprint change the pace (see Pace).
	TTFT        *Duration `json:"ttft,omitempty"`
	TokenDelay  *Duration `json:"token_delay,omitempty"`
	Fingerprint *string   `json:"system_fingerprint,omitempty"`
	// ContextWindow sets the tokens a request gets (0 the default,
	// negative none).
	ContextWindow *int `json:"context_window,omitempty"`
}

// Apply sets the fields of req that are present. The delay and divergence
// point are set before the fault, so a switch to "slow" uses the new delay.
func (s *Sim) Apply(req FaultRequest) error {
	if req.Fault != nil {
		if _, err := ParseFault(string(*req.Fault)); err != nil {
			return err
		}
	}
	if req.SlowDelay != nil {
		s.SetSlowDelay(time.Duration(*req.SlowDelay))
	}
	if req.DivergeAfter != nil {
		s.SetDivergeAfter(*req.DivergeAfter)
	}
	s.applyPace(req)
	if req.ContextWindow != nil {
		s.SetContextWindow(*req.ContextWindow)
	}
	if req.Fault != nil {
		return s.SetFault(*req.Fault)
	}
	return nil
}

// controlHandler serves POST /fault and GET /state. It has no
// authentication: bind it to loopback only.
func (s *Sim) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.State())
	})
	mux.HandleFunc("POST /fault", func(w http.ResponseWriter, r *http.Request) {
		var req FaultRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid fault request: "+err.Error())
			return
		}
		if req.Fault != nil {
			if _, err := ParseFault(string(*req.Fault)); err != nil {
				writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
				return
			}
		}
		if err := s.Apply(req); err != nil {
			// A valid request that failed: re-opening a port did not work.
			writeError(w, http.StatusInternalServerError, "server_error", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, s.State())
	})
	mux.HandleFunc("POST /backend-fault", s.backendFaultHandler)
	mux.HandleFunc("POST /backend-load", s.backendLoadHandler)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", fmt.Sprintf("no route for %s %s (control: POST /fault, GET /state)", r.Method, r.URL.Path))
	})
	return mux
}
