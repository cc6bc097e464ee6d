package backend

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// The parsers below read the documented response shapes of each server.
// They are pure functions of the body (fuzzed in fuzz_test.go); the
// adapters call them. Unknown fields are ignored: servers add fields.

// ErrNotThisServer: a 200 whose body is not the documented shape, e.g. LM
// Studio's {"error":"Unexpected endpoint or method. (GET /props)"}.
var ErrNotThisServer = errors.New("body is not the documented shape")

// errorObject is the error body LM Studio sends, with status 200, for any
// path it does not serve (lmstudio-ai/lmstudio-bug-tracker#618):
//
//	{"error":"Unexpected endpoint or method. (POST /chat/completions)"}
//
// and the shape of most servers' errors ({"error":{"message":...}}).
type errorObject struct {
	Error json.RawMessage `json:"error"`
}

// errorText returns the "error" of body, as a string, when body is a JSON
// object with a non-null "error" member.
func errorText(body []byte) (string, bool) {
	var e errorObject
	if json.Unmarshal(body, &e) != nil || len(e.Error) == 0 || bytes.Equal(e.Error, []byte("null")) {
		return "", false
	}
	var s string
	if json.Unmarshal(e.Error, &s) == nil {
		return s, true
	}
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(e.Error, &obj) == nil && obj.Message != "" {
		return obj.Message, true
	}
	return string(e.Error), true
}

// decodeObject decodes a JSON object into v, refusing an error object.
func decodeObject(body []byte, v any) error {
	if msg, ok := errorText(body); ok {
		return fmt.Errorf("%w: server said %q", ErrNotThisServer, text.Excerpt(msg, text.MaxIdent))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %v", ErrNotThisServer, err)
	}
	return nil
}

// LlamaProps is the part of llama-server's GET /props the probes use
// (ggml-org/llama.cpp tools/server/README.md, "GET /props").
type LlamaProps struct {
	ModelPath  string `json:"model_path"`
	BuildInfo  string `json:"build_info"`
	TotalSlots *int   `json:"total_slots"`
	IsSleeping bool   `json:"is_sleeping"`
	// DefaultGenerationSettings marks the body as llama-server's; its
	// n_ctx is read into NCtx.
	DefaultGenerationSettings json.RawMessage `json:"default_generation_settings"`
	// NCtx is a slot's context window in tokens (default_generation_settings.n_ctx:
	// --ctx-size divided among --parallel slots, what one request gets);
	// nil when not reported.
	NCtx *int `json:"-"`
}

// ParseLlamaProps reads GET /props. A body without model_path and without
// default_generation_settings is not llama-server's.
func ParseLlamaProps(body []byte) (LlamaProps, error) {
	var p LlamaProps
	if err := decodeObject(body, &p); err != nil {
		return LlamaProps{}, fmt.Errorf("llama-server /props: %w", err)
	}
	if p.ModelPath == "" && len(p.DefaultGenerationSettings) == 0 {
		return LlamaProps{}, fmt.Errorf("llama-server /props: %w: no model_path or default_generation_settings", ErrNotThisServer)
	}
	var settings struct {
		NCtx *int `json:"n_ctx"`
	}
	if json.Unmarshal(p.DefaultGenerationSettings, &settings) == nil {
		p.NCtx = positive(settings.NCtx)
	}
	return p, nil
}

// ParseLlamaHealth reads llama-server's GET /health (README, "GET
// /health"): 200 {"status":"ok"} is ready; 503 {"error":{"code":503,
// "message":"Loading model","type":"unavailable_error"}} is loading; any
// other 503 is failed with the server's message.
func ParseLlamaHealth(status int, body []byte) Readiness {
	r := Readiness{HTTPStatus: status}
	msg, isErr := errorText(body)
	switch {
	case status == 200 && !isErr:
		var ok struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(body, &ok) == nil && ok.Status == "ok" {
			r.State, r.Detail = Ready, "ok"
			return r
		}
		r.State, r.Detail = Unknown, "unexpected /health body: "+text.Excerpt(string(body), text.MaxIdent)
	case status == 503 && isErr && msg == "Loading model":
		r.State, r.Detail = Loading, msg
	case status == 503:
		r.State, r.Detail = Failed, text.Excerpt(orBody(msg, body), text.MaxIdent)
	default:
		r.State, r.Detail = Unknown, fmt.Sprintf("/health HTTP %d: %s", status, text.Excerpt(orBody(msg, body), text.MaxIdent))
	}
	return r
}

func orBody(msg string, body []byte) string {
	if msg != "" {
		return msg
	}
	return string(body)
}

// VersionBody is {"version": "..."}, the shape of vLLM's GET /version and
// Ollama's GET /api/version (ollama/ollama docs/api.md, "Version").
type VersionBody struct {
	Version string `json:"version"`
}

// ParseVersion reads a {"version": "..."} body; an empty version is not
// the documented shape.
func ParseVersion(body []byte) (string, error) {
	var v VersionBody
	if err := decodeObject(body, &v); err != nil {
		return "", fmt.Errorf("version: %w", err)
	}
	if v.Version == "" {
		return "", fmt.Errorf("version: %w: no version", ErrNotThisServer)
	}
	return v.Version, nil
}

// OllamaModel is one entry of Ollama's GET /api/ps or /api/tags
// (ollama/ollama docs/api.md, "List Running Models", "List Local Models").
type OllamaModel struct {
	Name      string    `json:"name"`
	Model     string    `json:"model"`
	Size      *int64    `json:"size"`
	Digest    string    `json:"digest"`
	ExpiresAt time.Time `json:"expires_at"`
	SizeVRAM  *int64    `json:"size_vram"`
	// ContextLength is the window the running model was loaded with
	// (/api/ps only; ollama/ollama docs/openapi.yaml, ProcessModelResponse).
	ContextLength *int `json:"context_length"`
}

// ParseOllamaModels reads {"models":[...]} (both /api/ps and /api/tags).
func ParseOllamaModels(body []byte) ([]OllamaModel, error) {
	var v struct {
		Models *[]OllamaModel `json:"models"`
	}
	if err := decodeObject(body, &v); err != nil {
		return nil, fmt.Errorf("ollama models: %w", err)
	}
	if v.Models == nil {
		return nil, fmt.Errorf("ollama models: %w: no models array", ErrNotThisServer)
	}
	for i := range *v.Models {
		m := &(*v.Models)[i]
		m.ContextLength = positive(m.ContextLength)
	}
	return *v.Models, nil
}

// LMStudioModel is one entry of LM Studio's GET /api/v0/models
// (lmstudio-ai/docs 1_developer/2_rest/endpoints.mdx).
type LMStudioModel struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	State string `json:"state"`
}

// ParseLMStudioModels reads {"object":"list","data":[...]}. Every entry must
// carry a state (loaded / not-loaded): that is what tells this list from
// an OpenAI /v1/models list. An empty list is not proof of LM Studio.
func ParseLMStudioModels(body []byte) ([]LMStudioModel, error) {
	var v struct {
		Data []LMStudioModel `json:"data"`
	}
	if err := decodeObject(body, &v); err != nil {
		return nil, fmt.Errorf("lmstudio models: %w", err)
	}
	if len(v.Data) == 0 {
		return nil, fmt.Errorf("lmstudio models: %w: empty data", ErrNotThisServer)
	}
	for _, m := range v.Data {
		if m.ID == "" || m.State == "" {
			return nil, fmt.Errorf("lmstudio models: %w: an entry without id or state", ErrNotThisServer)
		}
	}
	return v.Data, nil
}

// OpenAIModel is one entry of an OpenAI GET /v1/models list.
type OpenAIModel struct {
	ID string `json:"id"`
	// MaxModelLen is vLLM's context window (its ModelCard's max_model_len,
	// vllm/entrypoints/openai/protocol.py); nil when not reported.
	MaxModelLen *int `json:"max_model_len"`
}

// ParseOpenAIModels reads {"data":[{"id":...}]}.
func ParseOpenAIModels(body []byte) ([]OpenAIModel, error) {
	var v struct {
		Data *[]OpenAIModel `json:"data"`
	}
	if err := decodeObject(body, &v); err != nil {
		return nil, fmt.Errorf("/v1/models: %w", err)
	}
	if v.Data == nil {
		return nil, fmt.Errorf("/v1/models: %w: no data array", ErrNotThisServer)
	}
	for i := range *v.Data {
		m := &(*v.Data)[i]
		m.MaxModelLen = positive(m.MaxModelLen)
	}
	return *v.Data, nil
}

// positive keeps a reported size only when it is one: zero or negative is
// not reported (Ollama sends 0 for a model still loading).
func positive(n *int) *int {
	if n == nil || *n <= 0 {
		return nil
	}
	return n
}

func isNotShape(err error) bool { return errors.Is(err, ErrNotThisServer) }
