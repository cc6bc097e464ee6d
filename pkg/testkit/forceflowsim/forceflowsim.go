// Package forceflowsim is a stand-in for Force Flow, the house notification
// hub, for tests and `make demo`. It is NOT Force Flow: it accepts
// POST /notify with the same payload, answers with the same receipt fields
// (status, channels, deduplicated, rate_limited, quiet_hours), applies Force
// Flow's documented rules (identical source+title+message deduplicated for
// 120 s; non-critical alerts capped at 10 per hour per source), records what
// it received, and can be switched to fail so the probes' outbox can be
// exercised: 500, a 400 naming the payload invalid, any other HTTP status,
// a hang, a slow answer, a redirect, and a 200 that is not a receipt (an
// HTML captive portal, {"status":"error"}).
//
// Idempotency. A request carrying an Idempotency-Key header that was already
// accepted is answered with the first answer's receipt and not recorded
// again (Duplicates counts them). A sender that retries after a timeout, when
// the first attempt did arrive, therefore delivers the alert once.
package forceflowsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
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

// Modes: how the stand-in answers. Any other HTTP status code written as a
// number ("401", "413") is answered with that status and a JSON error.
const (
	ModeUp   = "up"
	Mode500  = "500"
	Mode400  = "400" // the payload is invalid: a permanent refusal
	ModeHang = "hang"
	// ModeHTML200 answers 200 with an HTML page (a captive portal).
	ModeHTML200 = "html200"
	// ModeStatusError answers 200 with {"status":"error"}.
	ModeStatusError = "status-error"
	// ModeRedirect answers 307 to the URL set by SetRedirect.
	ModeRedirect = "redirect"
)

// IdempotencyHeader names the header a sender sets to a stable id of the
// alert, so a retried request is recognised.
const IdempotencyHeader = "Idempotency-Key"

// Payload400 is the error Mode400 answers: it names the payload as invalid.
const Payload400 = `{"error":"invalid payload: severity must be one of info|warn|error|critical"}`

// Server is the stand-in's HTTP handler and record.
type Server struct {
	// Log, when set, gets one human line per accepted alert.
	Log io.Writer
	Now func() time.Time

	mu         sync.Mutex
	mode       string
	delay      time.Duration
	redirect   string
	received   []Payload
	seen       map[string]time.Time
	perHour    map[string][]time.Time
	keys       map[string]Receipt
	duplicates int
	done       chan struct{}
	once       sync.Once
}

// New returns a stand-in in mode "up".
func New() *Server {
	return &Server{mode: ModeUp, seen: map[string]time.Time{}, perHour: map[string][]time.Time{},
		keys: map[string]Receipt{}, done: make(chan struct{}), Now: time.Now}
}

// SetMode switches how the stand-in answers.
func (s *Server) SetMode(m string) { s.mu.Lock(); s.mode = m; s.mu.Unlock() }

// SetDelay makes every answer wait d first (a slow Force Flow). Like a real
// server, it still accepts the alert after the wait when the sender has
// given up in the meantime.
func (s *Server) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// SetRedirect sets where ModeRedirect sends the sender.
func (s *Server) SetRedirect(url string) { s.mu.Lock(); s.redirect = url; s.mu.Unlock() }

// Duplicates counts requests answered from the idempotency record instead
// of being accepted again.
func (s *Server) Duplicates() int { s.mu.Lock(); defer s.mu.Unlock(); return s.duplicates }

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
	mode, delay, redirect := s.mode, s.delay, s.redirect
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-s.done:
			return
		}
	}
	switch mode {
	case ModeUp:
	case Mode500:
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	case Mode400:
		http.Error(w, Payload400, http.StatusBadRequest)
		return
	case ModeHang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	case ModeHTML200:
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body><h1>Welcome to the hotel Wi-Fi</h1><p>Please log in.</p></body></html>")
		return
	case ModeStatusError:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"error"}`)
		return
	case ModeRedirect:
		http.Redirect(w, r, redirect, http.StatusTemporaryRedirect)
		return
	default:
		if code, err := strconv.Atoi(mode); err == nil && code >= 100 && code <= 999 {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, http.StatusText(code)), code)
			return
		}
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
	rc := s.accept(p, r.Header.Get(IdempotencyHeader))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rc)
}

func (s *Server) accept(p Payload, key string) Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rc, ok := s.keys[key]; ok && key != "" {
		s.duplicates++
		return rc
	}
	now := s.Now()
	rc := Receipt{Status: "sent", Channels: []string{"ntfy"}}
	dedup := p.Source + "\x00" + p.Title + "\x00" + p.Message
	if t, ok := s.seen[dedup]; ok && now.Sub(t) < 120*time.Second {
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
	s.seen[dedup] = now
	s.received = append(s.received, p)
	if key != "" {
		s.keys[key] = rc
	}
	if s.Log != nil {
		fmt.Fprintf(s.Log, "FORCE FLOW <- [%s] %s: %s (%s)\n", p.Severity, p.Title, p.Message, rc.Status)
	}
	return rc
}
