package councilsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Personality makes the simulator also serve the documented endpoints of
// one real server, beside the OpenAI subset, so the probes' backend
// adapters can be tested end to end. Each is written from the server's
// public documentation, cited in its file (personality_<name>.go).
type Personality string

// The personalities. Generic (the default) adds nothing: the simulator
// serves the OpenAI subset only, as before personalities existed.
const (
	PersonalityGeneric     Personality = "generic"
	PersonalityMLX         Personality = "mlx"
	PersonalityLlamaServer Personality = "llama-server"
	PersonalityVLLM        Personality = "vllm"
	PersonalityOllama      Personality = "ollama"
	PersonalityLMStudio    Personality = "lmstudio"
)

// Personalities lists them, in documentation order.
var Personalities = []Personality{
	PersonalityGeneric, PersonalityMLX, PersonalityLlamaServer,
	PersonalityVLLM, PersonalityOllama, PersonalityLMStudio,
}

// BackendFault is a failure a personality reports through its own
// endpoints. Each personality supports the faults its server can show
// (BackendFaultsOf); setting another is an error, not a silent no-op.
type BackendFault string

// The backend faults.
const (
	BackendFaultNone BackendFault = "none"
	// BackendFaultLoading: the server says it is loading its model, for
	// LoadingFor after the fault is set (forever when LoadingFor is 0),
	// then serves normally.
	BackendFaultLoading BackendFault = "loading"
	// BackendFaultUnloaded: the expected model is not loaded (it stays
	// listed where the server lists downloads).
	BackendFaultUnloaded BackendFault = "unloaded"
	// BackendFaultOnCPU: the model is only partly in GPU memory.
	BackendFaultOnCPU BackendFault = "on_cpu"
	// BackendFaultExpiring: the model will be unloaded within seconds.
	BackendFaultExpiring BackendFault = "expiring"
	// BackendFaultVersionChanged: the server reports another version,
	// build or model digest than before.
	BackendFaultVersionChanged BackendFault = "version_changed"
	// BackendFaultKVFull: the KV cache is full and requests wait.
	BackendFaultKVFull BackendFault = "kv_full"
	// BackendFaultEngineDead: the inference engine died while the API
	// process still answers /v1/models.
	BackendFaultEngineDead BackendFault = "engine_dead"
	// BackendFaultCold: the model is not loaded (Ollama unloaded it after
	// its keep-alive), and the next chat loads it first: it answers only
	// after LoadTime, and then the model is loaded (the fault clears).
	BackendFaultCold BackendFault = "cold"
	// BackendFaultCPUOnly: the host has no GPU: the model is loaded
	// entirely in main memory (Ollama: size_vram 0).
	BackendFaultCPUOnly BackendFault = "cpu_only"
	// BackendFaultReplaced: the loaded model was replaced under its own
	// name (`ollama create` of new weights): Ollama's /api/ps lists the
	// name twice, the new digest first and the old one, still loaded,
	// second; /api/tags lists the new one.
	BackendFaultReplaced BackendFault = "replaced"
)

// DefaultLoadTime is how long BackendFaultCold's load takes when
// LoadTime is zero.
const DefaultLoadTime = 2 * time.Second

// backendFaults is what each personality can show.
var backendFaults = map[Personality][]BackendFault{
	PersonalityGeneric:     {BackendFaultNone},
	PersonalityMLX:         {BackendFaultNone},
	PersonalityLlamaServer: {BackendFaultNone, BackendFaultLoading, BackendFaultUnloaded, BackendFaultVersionChanged},
	PersonalityVLLM:        {BackendFaultNone, BackendFaultEngineDead, BackendFaultVersionChanged, BackendFaultKVFull},
	PersonalityOllama:      {BackendFaultNone, BackendFaultUnloaded, BackendFaultOnCPU, BackendFaultExpiring, BackendFaultVersionChanged, BackendFaultCold, BackendFaultReplaced, BackendFaultCPUOnly},
	PersonalityLMStudio:    {BackendFaultNone, BackendFaultUnloaded},
}

// BackendFaultsOf returns the faults personality p supports.
func BackendFaultsOf(p Personality) []BackendFault { return backendFaults[p] }

// ParsePersonality returns the personality named s; "" is generic.
func ParsePersonality(s string) (Personality, error) {
	if s == "" {
		return PersonalityGeneric, nil
	}
	for _, p := range Personalities {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown personality %q (want one of %s)", s, PersonalityNames())
}

// PersonalityNames returns the personality names joined by "|".
func PersonalityNames() string {
	names := make([]string, len(Personalities))
	for i, p := range Personalities {
		names[i] = string(p)
	}
	return strings.Join(names, "|")
}

// checkBackendFault reports whether p supports f.
func checkBackendFault(p Personality, f BackendFault) error {
	for _, ok := range backendFaults[p] {
		if ok == f {
			return nil
		}
	}
	names := make([]string, 0, len(backendFaults[p]))
	for _, ok := range backendFaults[p] {
		names = append(names, string(ok))
	}
	return fmt.Errorf("personality %s cannot show backend fault %q (it supports %s)", p, f, strings.Join(names, "|"))
}

// PersonalityConfig configures the personality of a Sim.
type PersonalityConfig struct {
	Personality  Personality
	BackendFault BackendFault
	// LoadingFor bounds BackendFaultLoading; 0 means until changed.
	LoadingFor time.Duration
	// LoadTime is how long BackendFaultCold's load takes (0:
	// DefaultLoadTime).
	LoadTime time.Duration
}

// BackendFaultRequest is the body of POST /backend-fault on the control
// listener.
type BackendFaultRequest struct {
	Fault      BackendFault `json:"fault"`
	LoadingFor Duration     `json:"loading_for,omitempty"`
}

// persona is a Sim's personality and its fault state.
type persona struct {
	kind Personality

	mu           sync.Mutex
	fault        BackendFault
	loadingUntil time.Time // zero: loading until the fault changes

	// inflight counts chat requests being served, reported as the
	// server's "requests running" metric.
	inflight atomic.Int64
	// otherRunning and otherWaiting are other clients' requests the
	// metrics report on top of inflight (SetReportedLoad); otherTokens is
	// what those clients have been served so far.
	otherRunning, otherWaiting, otherTokens atomic.Int64
}

// BackendLoadRequest is the body of POST /backend-load on the control
// listener: other clients' requests the server's /metrics reports.
type BackendLoadRequest struct {
	Running int `json:"running"`
	Waiting int `json:"waiting"`
}

// otherTokensPerRead is how many tokens each running request of another
// client is served between two reads of /metrics.
const otherTokensPerRead = 16

// SetReportedLoad makes the personality's /metrics report running and
// waiting requests of other clients on top of the chats the simulator
// serves (llama-server and vLLM export them). While any runs, every read
// of /metrics finds the token counters advanced, as on a server at work;
// a stuck chat alone leaves them still, as on a wedged one.
func (s *Sim) SetReportedLoad(running, waiting int) error {
	if running < 0 || waiting < 0 {
		return fmt.Errorf("set reported load: running %d and waiting %d must not be negative", running, waiting)
	}
	s.persona.otherRunning.Store(int64(running))
	s.persona.otherWaiting.Store(int64(waiting))
	s.log.Info("backend load set", "personality", string(s.persona.kind), "running", running, "waiting", waiting)
	return nil
}

// reportedLoad is what /metrics says: requests running (the chats being
// served and other clients'), waiting, and tokens processed so far. Each
// call is one read: other clients' running requests advance the tokens.
func (s *Sim) reportedLoad() (running, waiting, tokens int64) {
	p := s.persona
	others := p.otherRunning.Load()
	done := p.otherTokens.Add(others * otherTokensPerRead)
	return p.inflight.Load() + others, p.otherWaiting.Load(), int64(s.Requests())*8 + done
}

// backendLoadHandler serves POST /backend-load on the control listener.
func (s *Sim) backendLoadHandler(w http.ResponseWriter, r *http.Request) {
	var req BackendLoadRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid backend load request: "+err.Error())
		return
	}
	if err := s.SetReportedLoad(req.Running, req.Waiting); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, req)
}

// SetBackendFault switches the personality's fault; loadingFor bounds
// BackendFaultLoading (0 = until changed).
func (s *Sim) SetBackendFault(f BackendFault, loadingFor time.Duration) error {
	if f == "" {
		f = BackendFaultNone
	}
	p := s.persona
	if err := checkBackendFault(p.kind, f); err != nil {
		return fmt.Errorf("set backend fault: %w", err)
	}
	p.mu.Lock()
	p.fault = f
	p.loadingUntil = time.Time{}
	if f == BackendFaultLoading && loadingFor > 0 {
		p.loadingUntil = s.now().Add(loadingFor)
	}
	p.mu.Unlock()
	s.log.Info("backend fault set", "personality", string(p.kind), "fault", string(f), "loading_for", loadingFor.String())
	return nil
}

// BackendFault returns the personality's current fault; a loading fault
// whose time is up reads as none.
func (s *Sim) BackendFault() BackendFault {
	p := s.persona
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fault == BackendFaultLoading && !p.loadingUntil.IsZero() && !s.now().Before(p.loadingUntil) {
		p.fault, p.loadingUntil = BackendFaultNone, time.Time{}
	}
	return p.fault
}

// Personality returns the simulator's personality.
func (s *Sim) Personality() Personality { return s.persona.kind }

func newPersona(cfg PersonalityConfig) *persona {
	p := &persona{kind: cfg.Personality, fault: cfg.BackendFault}
	if p.kind == "" {
		p.kind = PersonalityGeneric
	}
	if p.fault == "" {
		p.fault = BackendFaultNone
	}
	return p
}

// personalityHandler puts the personality's endpoints in front of the
// OpenAI handler api. The simulator's own all-endpoint faults (hang_all,
// 500, empty, html) still win: they are the transport going wrong, which
// no server's own endpoints escape.
func (s *Sim) personalityHandler(api http.Handler) (http.Handler, error) {
	p := s.persona
	if _, err := ParsePersonality(string(p.kind)); err != nil {
		return nil, err
	}
	if err := checkBackendFault(p.kind, p.fault); err != nil {
		return nil, err
	}
	if p.fault == BackendFaultLoading && s.cfg.Personality.LoadingFor > 0 {
		p.mu.Lock()
		p.loadingUntil = s.now().Add(s.cfg.Personality.LoadingFor)
		p.mu.Unlock()
	}
	if p.kind == PersonalityGeneric {
		return api, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/models", api)
	mux.Handle("POST /v1/chat/completions", s.countInflight(s.loadWhenCold(api)))
	switch p.kind {
	case PersonalityMLX:
		s.mlxRoutes(mux)
	case PersonalityLlamaServer:
		s.llamaRoutes(mux)
	case PersonalityVLLM:
		s.vllmRoutes(mux)
	case PersonalityOllama:
		s.ollamaRoutes(mux)
	case PersonalityLMStudio:
		s.lmstudioRoutes(mux)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch s.Fault() {
		case FaultHangAll, Fault500, FaultEmpty, FaultHTML:
			api.ServeHTTP(w, r)
			return
		}
		if s.gated(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}

// gated answers a request the personality's fault refuses before any
// route sees it, and reports whether it did.
func (s *Sim) gated(w http.ResponseWriter, r *http.Request) bool {
	switch s.persona.kind {
	case PersonalityLlamaServer:
		return s.llamaGate(w, r)
	case PersonalityVLLM:
		return s.vllmGate(w, r)
	}
	return false
}

// loadWhenCold makes a chat wait for the model's load under
// BackendFaultCold, then marks the model loaded, as a server that loads a
// model on its first request does.
func (s *Sim) loadWhenCold(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.BackendFault() == BackendFaultCold {
			d := s.cfg.Personality.LoadTime
			if d <= 0 {
				d = DefaultLoadTime
			}
			if !s.sleep(r.Context(), d) {
				return
			}
			s.persona.mu.Lock()
			if s.persona.fault == BackendFaultCold {
				s.persona.fault = BackendFaultNone
			}
			s.persona.mu.Unlock()
			s.log.Info("model loaded (backend fault cold cleared)", "load_time", d.String())
		}
		h.ServeHTTP(w, r)
	})
}

// countInflight counts the chat requests being served.
func (s *Sim) countInflight(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.persona.inflight.Add(1)
		defer s.persona.inflight.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// backendFaultHandler serves POST /backend-fault on the control listener.
func (s *Sim) backendFaultHandler(w http.ResponseWriter, r *http.Request) {
	var req BackendFaultRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid backend fault request: "+err.Error())
		return
	}
	if err := s.SetBackendFault(req.Fault, time.Duration(req.LoadingFor)); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"personality": string(s.persona.kind), "backend_fault": string(s.BackendFault())})
}

// loadedModel is the model a personality reports loaded: the first one.
func (s *Sim) loadedModel() string { return s.models[0] }

// writeText writes a plain-text body.
func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}
