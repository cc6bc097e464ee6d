// Package councilsim is an OpenAI-compatible simulator of the council LLM
// server, with fault injection, for the probes' end-to-end tests and for
// `make demo`. It is not an LLM and must never be mistaken for one: every
// response carries the header "x-council-simulator: true".
//
// It serves, on a plain listener (optional bearer check) and/or an mTLS
// listener (client certificate from a given CA required):
//
//	GET  /v1/models            {"object":"list","data":[{"id":"council-sim-27b","object":"model"}]}
//	POST /v1/chat/completions  JSON, or SSE with "stream": true; "logprobs": true adds
//	                           choices[0].logprobs.content[].token
//
// Answers are deterministic: the first configured Answers substring found in
// the last user message (longest substring first), else "4" for a prompt
// containing "2+2", else DefaultAnswer. Answers are split into tokens at
// whitespace (a token carries its leading spaces), and streamed one token per
// chunk after an initial {"role":"assistant"} chunk. "max_tokens" truncates
// the answer with finish_reason "length". A prompt containing "count from 1"
// is answered by counting, one token per number, up to max_tokens; with a
// Pace the answer is slow on purpose (a configurable time to first token and
// per-token delay), for the speed probe.
//
// Faults (see Fault) switch at run time, through SetFault, through the
// council-sim binary's --fault flag, or over the control listener, which
// stays up while the serving listeners are down:
//
//	POST /fault  {"fault":"hang","slow_delay":"2s","diverge_after":3}  (fields optional)
//	POST /fault  {"ttft":"400ms","token_delay":"30ms","system_fingerprint":"fp_2"}  (the Pace)
//	POST /fault  {"context_window":2048}  (see context.go)
//	GET  /state  {"fault":"hang","slow_delay":"2s","diverge_after":3,"up":true,"requests":7,...}
//
// Both answer with the state. Hanging handlers return when the client gives
// up (the request context) or the simulator closes, so tests shut down
// cleanly.
//
// Each request on a serving listener appends one access-log line:
//
//	2026-11-27T01:02:03.456Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=12
//
// A request the client abandoned (a hang or a stall) is logged as
// "WARN request canceled ..." instead: it never completed, and the
// guardian's busy-skip must not read it as a sign of a busy server.
//
// Typical use in a test:
//
//	sim := councilsim.New(councilsim.Config{Token: "s3cret"})
//	if err := sim.Start(ctx); err != nil { t.Fatal(err) }
//	t.Cleanup(sim.Close)
//	resp, err := http.Get(sim.PlainURL() + "/v1/models")
package councilsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultModel         = "council-sim-27b"
	DefaultAnswer        = "I am the council simulator; I have no scripted answer to that."
	DefaultSlowDelay     = 5 * time.Second
	DefaultDivergeAfter  = 3
	SimulatorHeader      = "X-Council-Simulator"
	defaultPlainAddr     = "127.0.0.1:0"
	readHeaderTimeout    = 10 * time.Second
	accessLogTimeLayout  = "2006-01-02T15:04:05.000Z"
	simulatorHeaderValue = "true"
)

// Config configures a Sim. The zero value serves one plain listener on a
// random loopback port with no token, no mTLS and no control listener.
type Config struct {
	// PlainAddr is the plain HTTP listen address; empty means
	// "127.0.0.1:0". Set DisablePlain to serve mTLS only.
	PlainAddr    string
	DisablePlain bool
	// Token, when set, is the bearer token the plain listener requires.
	// The mTLS listener authenticates by client certificate instead.
	Token string

	// MTLSAddr, when set, starts the mTLS listener. It needs ServerCert
	// and ClientCAs (see LoadServerTLS).
	MTLSAddr   string
	ServerCert *tls.Certificate
	ClientCAs  *x509.CertPool

	// ControlAddr, when set, starts the control listener.
	ControlAddr string

	// Models are the model ids served; empty means [DefaultModel].
	Models []string
	// Answers maps a prompt substring to its answer.
	Answers map[string]string
	// DefaultAnswer answers prompts no substring matches; empty means
	// the package's DefaultAnswer.
	DefaultAnswer string

	// Personality adds one real server's own endpoints and faults (see
	// Personality); the zero value is the generic OpenAI subset.
	Personality PersonalityConfig

	// Fault, SlowDelay and DivergeAfter set the initial fault state.
	Fault        Fault
	SlowDelay    time.Duration
	DivergeAfter int
	// Pace is the initial generation speed (see Pace); zero is as fast as
	// possible.
	Pace Pace
	// ContextWindow is the tokens one request gets (see context.go): 0
	// means DefaultContextWindow, negative no window at all.
	ContextWindow int

	// CrashSignal and CrashLine are how FaultCrash dies and what it
	// writes to the access log first; zero values mean SIGSEGV and
	// DefaultCrashLine.
	CrashSignal syscall.Signal
	CrashLine   string
	// Say are lines the simulator writes to its access log, as they are,
	// once it serves: a server's own banner, or a hostile server printing
	// what reads like its service manager's words.
	Say []string

	// Runner, when set, is the stdin of a runner process (RunRunner)
	// that does the work of FaultBusy: the simulator writes "busy" and
	// "idle" lines to it and spins nothing itself, as a server whose
	// generation runs in a child process (Ollama's `ollama runner`).
	Runner io.Writer

	// AccessLog receives the access log; nil means none. Lines are
	// written with one Write call each, in AccessLogFormat ("" is the
	// council's own; AccessLogFormats lists the others).
	AccessLog       io.Writer
	AccessLogFormat string
	// Logger receives the simulator's own events (start, fault switches,
	// TLS handshake errors); nil means discard.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// State is the simulator's fault state and counters, as GET /state shows it.
type State struct {
	Fault        Fault    `json:"fault"`
	SlowDelay    Duration `json:"slow_delay"`
	DivergeAfter int      `json:"diverge_after"`
	// Up reports whether the serving listeners are open.
	Up         bool   `json:"up"`
	Requests   int    `json:"requests"`
	PlainURL   string `json:"plain_url,omitempty"`
	MTLSURL    string `json:"mtls_url,omitempty"`
	ControlURL string `json:"control_url,omitempty"`
	// The pace (see Pace).
	TTFT        Duration `json:"ttft"`
	TokenDelay  Duration `json:"token_delay"`
	Fingerprint string   `json:"system_fingerprint,omitempty"`
	// ContextWindow is the tokens a request gets, 0 for none.
	ContextWindow int `json:"context_window"`
}

// Sim is a running (or startable) simulator. Its methods are safe for
// concurrent use.
type Sim struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	models    []string
	answers   []answerRule
	requests  atomic.Int64
	logMu     sync.Mutex // serialises access-log writes
	done      chan struct{}
	closeOnce sync.Once
	persona   *persona

	mu           sync.Mutex
	started      bool
	closed       bool
	fault        Fault
	slowDelay    time.Duration
	divergeAfter int
	pace         Pace
	otherClients int
	window       int
	up           bool
	serving      []*listener // plain and/or mTLS
	control      *listener
	wg           sync.WaitGroup
}

// listener is one serving address. Its bound address survives a
// down/up cycle so the simulator comes back on the same port.
type listener struct {
	name    string // "plain", "mtls", "control"
	scheme  string
	addr    string // bound host:port once started
	handler http.Handler
	tls     *tls.Config
	srv     *http.Server
	// ln is closed directly on "down": srv.Close alone misses a listener
	// its Serve goroutine has not registered yet.
	ln net.Listener
}

// New returns a simulator for cfg. Call Start to listen.
func New(cfg Config) *Sim {
	s := &Sim{
		cfg:          cfg,
		log:          cfg.Logger,
		now:          cfg.Now,
		models:       cfg.Models,
		answers:      newAnswerRules(cfg.Answers),
		done:         make(chan struct{}),
		fault:        cfg.Fault,
		slowDelay:    cfg.SlowDelay,
		divergeAfter: cfg.DivergeAfter,
		window:       contextWindow(cfg.ContextWindow),
		persona:      newPersona(cfg.Personality),
	}
	s.SetPace(cfg.Pace)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if len(s.models) == 0 {
		s.models = []string{DefaultModel}
	}
	if s.fault == "" {
		s.fault = FaultNone
	}
	if s.slowDelay <= 0 {
		s.slowDelay = DefaultSlowDelay
	}
	if s.divergeAfter <= 0 {
		s.divergeAfter = DefaultDivergeAfter
	}
	return s
}

// Start binds every configured listener and serves in the background. It
// returns once all listeners are bound (so the URL methods are valid), or
// the first error, after which nothing is left listening. ctx bounds only the
// binding; stop the simulator with Close. If the initial fault is
// FaultDown, the serving ports are bound (to learn them) and closed again.
func (s *Sim) Start(ctx context.Context) error {
	if _, err := ParseFault(string(s.fault)); err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	if _, err := ParseAccessLogFormat(s.cfg.AccessLogFormat); err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("start simulator: already started")
	}
	s.started = true

	api, err := s.personalityHandler(s.apiHandler())
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	if !s.cfg.DisablePlain {
		addr := s.cfg.PlainAddr
		if addr == "" {
			addr = defaultPlainAddr
		}
		s.serving = append(s.serving, &listener{name: "plain", scheme: "http", addr: addr, handler: s.accessLogged(s.bearerChecked(api))})
	}
	if s.cfg.MTLSAddr != "" {
		if s.cfg.ServerCert == nil || s.cfg.ClientCAs == nil {
			return errors.New("start simulator: mTLS listener needs ServerCert and ClientCAs")
		}
		s.serving = append(s.serving, &listener{name: "mtls", scheme: "https", addr: s.cfg.MTLSAddr, handler: s.accessLogged(api), tls: &tls.Config{
			Certificates: []tls.Certificate{*s.cfg.ServerCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    s.cfg.ClientCAs,
			MinVersion:   tls.VersionTLS12,
		}})
	}
	if len(s.serving) == 0 {
		return errors.New("start simulator: no serving listener (plain disabled and no mTLS address)")
	}
	all := s.serving
	if s.cfg.ControlAddr != "" {
		s.control = &listener{name: "control", scheme: "http", addr: s.cfg.ControlAddr, handler: s.controlHandler()}
		all = append(all[:len(all):len(all)], s.control)
	}
	for _, l := range all {
		if err := s.open(ctx, l); err != nil {
			s.closeLocked()
			return fmt.Errorf("start simulator: %w", err)
		}
	}
	s.up = true
	if s.cfg.AccessLog != nil && len(s.cfg.Say) > 0 {
		s.logMu.Lock()
		for _, line := range s.cfg.Say {
			s.cfg.AccessLog.Write([]byte(line + "\n"))
		}
		s.logMu.Unlock()
	}
	go s.burnWhileBusy()
	if s.fault == FaultDown {
		s.downLocked()
	}
	s.log.Info("council simulator started", "plain_url", s.urlLocked("plain"), "mtls_url", s.urlLocked("mtls"),
		"control_url", s.urlLocked("control"), "fault", string(s.fault))
	return nil
}

// open binds l (on its bound address after the first time) and serves it.
// The caller holds s.mu.
func (s *Sim) open(ctx context.Context, l *listener) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", l.addr)
	if err != nil {
		return fmt.Errorf("listen %s on %s: %w", l.name, l.addr, err)
	}
	l.addr = ln.Addr().String()
	l.ln = ln
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	srv := &http.Server{
		Handler:           s.marked(l.handler),
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.With("listener", l.name).Handler(), slog.LevelDebug),
	}
	l.srv = srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve failed", "listener", l.name, "err", err)
		}
	}()
	return nil
}

// downLocked closes the serving listeners and their connections. Closing
// the connections also cancels the requests in flight on them.
func (s *Sim) downLocked() {
	for _, l := range s.serving {
		l.shut()
	}
	s.up = false
}

// shut closes the listener and the server's connections.
func (l *listener) shut() {
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	if l.srv != nil {
		l.srv.Close()
		l.srv = nil
	}
}

// SetFault switches the fault. Switching to FaultDown closes the serving
// listeners; switching from it re-opens them on the same ports (an error if
// a port was taken meanwhile). Before Start it only sets the initial fault.
func (s *Sim) SetFault(f Fault) error {
	if _, err := ParseFault(string(f)); err != nil {
		return fmt.Errorf("set fault: %w", err)
	}
	if f == "" {
		f = FaultNone
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("set fault: simulator closed")
	}
	prev := s.fault
	s.fault = f
	if s.started {
		switch {
		case f == FaultDown && s.up:
			s.downLocked()
		case f != FaultDown && !s.up:
			for _, l := range s.serving {
				if err := s.open(context.Background(), l); err != nil {
					s.downLocked()
					s.fault = prev
					return fmt.Errorf("set fault %s: re-open: %w", f, err)
				}
			}
			s.up = true
		}
	}
	s.log.Info("fault set", "fault", string(f), "previous", string(prev))
	return nil
}

// SetSlowDelay sets the delay of FaultSlow; d <= 0 means DefaultSlowDelay.
func (s *Sim) SetSlowDelay(d time.Duration) {
	if d <= 0 {
		d = DefaultSlowDelay
	}
	s.mu.Lock()
	s.slowDelay = d
	s.mu.Unlock()
}

// SetDivergeAfter sets how many tokens FaultDiverge keeps identical; n <= 0
// means DefaultDivergeAfter.
func (s *Sim) SetDivergeAfter(n int) {
	if n <= 0 {
		n = DefaultDivergeAfter
	}
	s.mu.Lock()
	s.divergeAfter = n
	s.mu.Unlock()
}

// Fault returns the current fault.
func (s *Sim) Fault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// State returns the fault state, counters and URLs.
func (s *Sim) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return State{
		Fault:         s.fault,
		SlowDelay:     Duration(s.slowDelay),
		DivergeAfter:  s.divergeAfter,
		Up:            s.up,
		Requests:      s.Requests(),
		PlainURL:      s.urlLocked("plain"),
		MTLSURL:       s.urlLocked("mtls"),
		ControlURL:    s.urlLocked("control"),
		TTFT:          Duration(s.pace.TTFT),
		TokenDelay:    Duration(s.pace.TokenDelay),
		Fingerprint:   s.pace.Fingerprint,
		ContextWindow: s.window,
	}
}

// Requests returns how many chat completion requests reached the simulator.
func (s *Sim) Requests() int { return int(s.requests.Load()) }

// PlainURL returns the plain listener's base URL (http://host:port), or ""
// if there is none or Start has not run.
func (s *Sim) PlainURL() string { return s.url("plain") }

// MTLSURL returns the mTLS listener's base URL (https://host:port), or "".
func (s *Sim) MTLSURL() string { return s.url("mtls") }

// ControlURL returns the control listener's base URL, or "".
func (s *Sim) ControlURL() string { return s.url("control") }

func (s *Sim) url(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.urlLocked(name)
}

func (s *Sim) urlLocked(name string) string {
	if !s.started {
		return ""
	}
	for _, l := range append(s.serving[:len(s.serving):len(s.serving)], s.control) {
		if l != nil && l.name == name {
			return l.scheme + "://" + l.addr
		}
	}
	return ""
}

// Close stops every listener, closes open connections, releases hanging
// handlers and waits for the servers to return. It is safe to call twice.
func (s *Sim) Close() {
	s.mu.Lock()
	s.closeLocked()
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Sim) closeLocked() {
	s.closed = true
	s.downLocked()
	if s.control != nil {
		s.control.shut()
	}
	// Release hanging handlers only after their connections are closed.
	s.closeOnce.Do(func() { close(s.done) })
}

// marked adds the simulator header to every response, so nobody mistakes
// the simulator for the real server.
func (s *Sim) marked(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(SimulatorHeader, simulatorHeaderValue)
		h.ServeHTTP(w, r)
	})
}

// LoadServerTLS reads the server certificate and key and the CA whose client
// certificates the mTLS listener accepts.
func LoadServerTLS(caCertFile, certFile, keyFile string) (*tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load server certificate: %w", err)
	}
	caPEM, err := os.ReadFile(caCertFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("load CA certificate: no PEM certificate in %s", caCertFile)
	}
	return &cert, pool, nil
}

// Duration is a time.Duration that reads and writes JSON as "2s".
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("duration must be a string like \"2s\", got %s", b)
	}
	v, err := time.ParseDuration(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
