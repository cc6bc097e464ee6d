// Package forceflowsim is a stand-in for Force Flow, the house notification
// hub, for tests and `make demo`. It is NOT Force Flow: it accepts
// POST /notify with the same payload, answers with the same receipt fields
// (status, channels, deduplicated, rate_limited, quiet_hours), applies Force
// Flow's documented rules (identical source+title+message deduplicated for
// 120 s; non-critical alerts capped at 10 per hour per source), records what
// it received, and can be switched to fail (500, 400, hang) so the probes'
// outbox can be exercised.
package forceflowsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/sanctum/council-probes/pkg/alert"
)

// Payload is the body of POST /notify, as the probes send it.
type Payload = alert.ForceFlowPayload

// Receipt is Force Flow's answer.
type Receipt struct {
	Status       string   `json:"status"`
	Channels     []string `json:"channels"`
	Deduplicated bool     `json:"deduplicated"`
	RateLimited  bool     `json:"rate_limited"`
	QuietHours   bool     `json:"quiet_hours"`
}

// Modes: how the stand-in answers.
const (
	ModeUp   = "up"
	Mode500  = "500"
	Mode400  = "400"
	ModeHang = "hang"
)

// Server is the stand-in's HTTP handler and record.
type Server struct {
	// Log, when set, gets one human line per accepted alert.
	Log io.Writer
	Now func() time.Time

	mu       sync.Mutex
	mode     string
	received []Payload
	seen     map[string]time.Time
	perHour  map[string][]time.Time
	done     chan struct{}
	once     sync.Once
}

// New returns a stand-in in mode "up".
func New() *Server {
	return &Server{mode: ModeUp, seen: map[string]time.Time{}, perHour: map[string][]time.Time{}, done: make(chan struct{}), Now: time.Now}
}

// SetMode switches how the stand-in answers.
func (s *Server) SetMode(m string) { s.mu.Lock(); s.mode = m; s.mu.Unlock() }

// Alerts returns every accepted payload, in arrival order.
func (s *Server) Alerts() []Payload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Payload(nil), s.received...)
}

// Release ends hung requests (call before shutting the listener down).
func (s *Server) Release() { s.once.Do(func() { close(s.done) }) }

// ServeHTTP implements POST /notify.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case Mode500:
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	case Mode400:
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	case ModeHang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	}
	if r.URL.Path != "/notify" || r.Method != http.MethodPost {
		http.Error(w, `{"error":"POST /notify"}`, http.StatusNotFound)
		return
	}
	var p Payload
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(&p); err != nil || p.Source == "" || p.Title == "" {
		http.Error(w, `{"error":"want JSON with source, severity, title, message"}`, http.StatusBadRequest)
		return
	}
	if !p.Severity.Valid() {
		http.Error(w, `{"error":"severity must be one of info|warn|error|critical"}`, http.StatusBadRequest)
		return
	}
	rc := s.accept(p)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rc)
}

func (s *Server) accept(p Payload) Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	rc := Receipt{Status: "sent", Channels: []string{"ntfy"}}
	key := p.Source + "\x00" + p.Title + "\x00" + p.Message
	if t, ok := s.seen[key]; ok && now.Sub(t) < 120*time.Second {
		rc.Status, rc.Deduplicated, rc.Channels = "deduplicated", true, nil
	} else if p.Severity != "critical" {
		var recent []time.Time
		for _, t := range s.perHour[p.Source] {
			if now.Sub(t) < time.Hour {
				recent = append(recent, t)
			}
		}
		if len(recent) >= 10 {
			rc.Status, rc.RateLimited, rc.Channels = "rate_limited", true, nil
		} else {
			recent = append(recent, now)
		}
		s.perHour[p.Source] = recent
	}
	s.seen[key] = now
	s.received = append(s.received, p)
	if s.Log != nil {
		fmt.Fprintf(s.Log, "FORCE FLOW <- [%s] %s: %s (%s)\n", p.Severity, p.Title, p.Message, rc.Status)
	}
	return rc
}
