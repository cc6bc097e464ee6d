// Package backend asks an OpenAI-compatible server what only the server
// itself knows, through the endpoints each popular local server documents:
// whether it is ready or still loading, which models are loaded and where
// (GPU or partly CPU), what version and build it is, and how busy it is.
//
// One adapter per server, each in its own file, all behind one interface:
//
//	generic       none of the below: readiness, residency, identity and
//	              metrics are unknown (never guessed)
//	mlx           mlx-lm's server (GET /health; /v1/models lists downloads)
//	llama-server  llama.cpp (GET /health, /props, /metrics)
//	vllm          vLLM (GET /health, /version, /metrics)
//	ollama        Ollama (GET /api/version, /api/ps, /api/tags)
//	lmstudio      LM Studio (GET /api/v0/models)
//
// Detect picks the adapter from what the server answers, reading the body,
// not only the status (LM Studio answers 200 with an error object to any
// path it does not serve). Every request goes through the probes'
// *transport.Client, every body is read with a bound, and any text a server
// sends that ends up in a result is redacted and shortened first.
//
// Absent is not zero: a metric the server does not export is nil, a size it
// does not report is nil, a residency it cannot tell is ResidencyUnknown.
package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/server/backend/detection"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// Kind names a backend. Auto is a setting, never a detected kind. It
// lives in package detection, which council-status reads without HTTP.
type Kind = detection.Kind

// The kinds.
const (
	Auto        = detection.Auto
	Generic     = detection.Generic
	MLX         = detection.MLX
	LlamaServer = detection.LlamaServer
	VLLM        = detection.VLLM
	Ollama      = detection.Ollama
	LMStudio    = detection.LMStudio
)

// Kinds lists every kind a --backend flag accepts, auto first.
var Kinds = []Kind{Auto, Generic, MLX, LlamaServer, VLLM, Ollama, LMStudio}

// KindNames returns the kinds joined by "|", for help texts.
func KindNames() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, "|")
}

// ErrBadKind: a --backend value that names no backend.
var ErrBadKind = errors.New("unknown backend")

// ParseKind returns the kind named s; "" is Auto.
func ParseKind(s string) (Kind, error) {
	if s == "" {
		return Auto, nil
	}
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w %q (want %s)", ErrBadKind, s, KindNames())
}

// State is what a server says about its own readiness.
type State string

// The readiness states.
const (
	// Ready: the server says it can serve.
	Ready State = "ready"
	// Loading: the server says it is still loading its model. Not a
	// failure, for a while.
	Loading State = "loading"
	// Failed: the server says it cannot serve (vLLM's engine is dead).
	Failed State = "failed"
	// Unknown: the server has no way to say, or said something we do not
	// understand.
	Unknown State = "unknown"
)

// Readiness is a server's answer about itself, with its own words.
type Readiness struct {
	State State `json:"state"`
	// Detail is the server's own words (redacted, shortened) or, where it
	// said nothing, why the state is what it is.
	Detail string `json:"detail,omitempty"`
	// HTTPStatus is the status of the readiness endpoint, 0 if none was
	// asked.
	HTTPStatus int `json:"http_status,omitempty"`
}

// Residency says whether a model is in memory.
type Residency string

// The residencies.
const (
	Resident    Residency = "loaded"
	NotResident Residency = "not-loaded"
	// ResidencyUnknown: the server lists the model but cannot say whether
	// it is loaded (a generic server's /v1/models, mlx-lm's downloads).
	ResidencyUnknown Residency = "unknown"
)

// Model is one model as the server reports it. Pointer and zero fields are
// "not reported", never "zero".
type Model struct {
	ID        string    `json:"id"`
	Residency Residency `json:"residency"`
	// Path is the model file or directory the server loaded (llama-server).
	Path string `json:"path,omitempty"`
	// Digest identifies the weights where the server reports it (Ollama).
	Digest string `json:"digest,omitempty"`
	// Size is the model's memory footprint in bytes; SizeVRAM the part of
	// it in GPU memory (Ollama /api/ps).
	Size     *int64 `json:"size,omitempty"`
	SizeVRAM *int64 `json:"size_vram,omitempty"`
	// ExpiresAt is when the server will unload the model if idle.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// ContextLength is the context window in tokens one request gets, as
	// the server reports it (Ollama /api/ps context_length of a loaded
	// model, llama-server /props n_ctx, vLLM /v1/models max_model_len).
	ContextLength *int `json:"context_length,omitempty"`
	// Tagged: the ID is an Ollama model:tag name, where no tag means
	// "latest".
	Tagged bool `json:"-"`
}

// OnCPU reports whether the server says part of the model is outside GPU
// memory (SizeVRAM < Size). Unknown sizes are not "on CPU".
func (m Model) OnCPU() bool {
	return m.Size != nil && m.SizeVRAM != nil && *m.SizeVRAM < *m.Size
}

// Models is a server's model list. Known is false when the backend cannot
// tell which models are loaded at all (then Residency is unknown for all).
type Models struct {
	Known  bool    `json:"known"`
	Models []Model `json:"models,omitempty"`
}

// Find returns the model whose ID (or, for llama-server, path) is id. An
// Ollama name without a tag means the tag "latest" (ollama/ollama
// docs/api.md, "Model names"), so "llama3.2" finds "llama3.2:latest".
func (ms Models) Find(id string) (Model, bool) {
	for _, m := range ms.Models {
		if m.ID == id || (m.Path != "" && m.Path == id) || (m.Tagged && m.ID == id+":latest") {
			return m, true
		}
	}
	return Model{}, false
}

// Identity is who the server says it is. Empty fields are unknown.
type Identity struct {
	Version     string `json:"version,omitempty"`
	Build       string `json:"build,omitempty"`
	ModelPath   string `json:"model_path,omitempty"`
	ModelDigest string `json:"model_digest,omitempty"`
}

// Metrics are the few server series the probes use. nil is "not exported".
type Metrics struct {
	RequestsRunning *float64 `json:"requests_running,omitempty"`
	RequestsWaiting *float64 `json:"requests_waiting,omitempty"`
	// KVCacheUsage is a ratio, 1 = full.
	KVCacheUsage *float64 `json:"kv_cache_usage_ratio,omitempty"`
	// ProgressTotal is the sum of the server's work counters since it
	// started (prompt and generated tokens; for llama-server also its
	// decode calls, since it counts generated tokens only when a request
	// ends): between two reads it advances on a server at work and stands
	// still on a stuck one. Its value means nothing on its own.
	ProgressTotal *float64 `json:"progress_total,omitempty"`
}

// addCounters is the sum of the counters that exist; nil when none does.
func addCounters(cs ...*float64) *float64 {
	var acc *float64
	for _, c := range cs {
		if c == nil {
			continue
		}
		if acc == nil {
			acc = float(0)
		}
		*acc += *c
	}
	return acc
}

// Adapter asks one kind of server about itself. A method returns an error
// only when it could not ask (network, our credentials, a body it cannot
// read); a server that has no way to say answers Unknown, not an error.
type Adapter interface {
	Kind() Kind
	Readiness(ctx context.Context) (Readiness, error)
	Models(ctx context.Context) (Models, error)
	Identity(ctx context.Context) (Identity, error)
	Metrics(ctx context.Context) (Metrics, error)
}

// New returns the adapter of kind k speaking through c. Auto is not a kind
// here: call Detect first.
func New(k Kind, c *transport.Client) (Adapter, error) {
	h := httpGetter{c: c}
	switch k {
	case Generic:
		return genericAdapter{h}, nil
	case MLX:
		return mlxAdapter{h}, nil
	case LlamaServer:
		return llamaAdapter{h}, nil
	case VLLM:
		return vllmAdapter{h}, nil
	case Ollama:
		return ollamaAdapter{h}, nil
	case LMStudio:
		return lmstudioAdapter{h}, nil
	}
	return nil, fmt.Errorf("backend adapter: %w %q", ErrBadKind, k)
}

// Bounds on what is read from a server.
const (
	maxJSONBody    = 1 << 20
	maxMetricsBody = 8 << 20
)

// Errors, checked with errors.Is.
var (
	// ErrUnauthorized: the server refused our credentials (401/403). A
	// fault on our side, never the server's.
	ErrUnauthorized = errors.New("server refused our credentials")
	// ErrTooLarge: a body larger than the bound.
	ErrTooLarge = errors.New("response too large")
)

// response is one bounded GET.
type response struct {
	status int
	body   []byte
}

type httpGetter struct{ c *transport.Client }

// get asks path and reads at most limit bytes of the body. A 401/403 is
// ErrUnauthorized; any other status is returned for the adapter to judge.
func (h httpGetter) get(ctx context.Context, path string, limit int64) (response, error) {
	req, err := h.c.NewRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return response{}, err
	}
	resp, err := h.c.HTTP.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: %s", path, redact.Error(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return response{}, fmt.Errorf("GET %s: read body: %s", path, redact.Error(err))
	}
	if int64(len(body)) > limit {
		return response{}, fmt.Errorf("GET %s: %w (over %d bytes)", path, ErrTooLarge, limit)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return response{}, fmt.Errorf("GET %s: HTTP %d: %w", path, resp.StatusCode, ErrUnauthorized)
	}
	return response{status: resp.StatusCode, body: body}, nil
}

func float(v float64) *float64 { return &v }

// statusError describes a non-200 answer from a documented endpoint with
// the server's own words.
func statusError(path string, resp response) error {
	msg, _ := errorText(resp.body)
	return fmt.Errorf("GET %s: HTTP %d: %s", path, resp.status, text.Excerpt(orBody(msg, resp.body), text.MaxIdent))
}

// AskedPaths are the paths the adapters and Detect ask. A server that logs
// every request logs these too; they are the probes' own questions, not
// work, so a busy scan must not count them.
var AskedPaths = []string{
	"/health", "/v1/health", "/props", "/version", "/metrics",
	"/api/version", "/api/ps", "/api/tags", "/api/v0/models",
}
