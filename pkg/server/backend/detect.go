package backend

import (
	"context"
	"fmt"

	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/server/backend/detection"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// Detection is Detect's answer: the kind and what proved it.
type Detection = detection.Detection

// Detect asks the server the endpoints each backend documents and returns
// the first whose body has that backend's shape:
//
//	lmstudio      GET /api/v0/models: a list whose entries carry "state"
//	llama-server  GET /props: model_path or default_generation_settings, or
//	              GET /health 503 "Loading model" while it loads
//	ollama        GET /api/version {"version":...} and GET /api/ps {"models":[...]}
//	vllm          GET /version {"version":...} and vllm: series in GET /metrics
//	generic       none of these
//
// A status alone proves nothing: LM Studio answers 200 with an error object
// to any path, and many servers have a /version. mlx-lm's server has only a
// generic server's endpoints, so it is never detected: choose it.
//
// An error (server unreachable, our credentials refused) means "could not
// detect", not "generic": the caller must not cache it.
func Detect(ctx context.Context, c *transport.Client) (Detection, error) {
	h := httpGetter{c: c}
	body := func(path string, limit int64) ([]byte, bool, error) {
		resp, err := h.get(ctx, path, limit)
		if err != nil {
			return nil, false, err
		}
		return resp.body, resp.status == 200, nil
	}

	b, ok, err := body("/api/v0/models", maxJSONBody)
	if err != nil {
		return Detection{}, fmt.Errorf("detect backend: %w", err)
	}
	if ok {
		if list, err := ParseLMStudioModels(b); err == nil {
			return Detection{Kind: LMStudio, Evidence: fmt.Sprintf("GET /api/v0/models lists %d models with a state", len(list))}, nil
		}
	}

	if b, ok, err = body("/props", maxJSONBody); err != nil {
		return Detection{}, fmt.Errorf("detect backend: %w", err)
	}
	if ok {
		if p, err := ParseLlamaProps(b); err == nil {
			return Detection{Kind: LlamaServer, Evidence: "GET /props has model_path " + text.Excerpt(p.ModelPath, text.MaxIdent)}, nil
		}
	}
	// While it loads, llama-server answers every endpoint but /health with
	// 503; /health says so in its own words, which is evidence enough.
	if resp, err := h.get(ctx, "/health", maxJSONBody); err != nil {
		return Detection{}, fmt.Errorf("detect backend: %w", err)
	} else if r := ParseLlamaHealth(resp.status, resp.body); r.State == Loading {
		return Detection{Kind: LlamaServer, Evidence: "GET /health 503 \"Loading model\" (llama-server loading)"}, nil
	}

	if b, ok, err = body("/api/version", maxJSONBody); err != nil {
		return Detection{}, fmt.Errorf("detect backend: %w", err)
	}
	if ok {
		if v, err := ParseVersion(b); err == nil {
			if pb, ok, err := body("/api/ps", maxJSONBody); err == nil && ok {
				if _, err := ParseOllamaModels(pb); err == nil {
					return Detection{Kind: Ollama, Evidence: "GET /api/version " + text.Excerpt(v, text.MaxIdent) + " and GET /api/ps"}, nil
				}
			} else if err != nil {
				return Detection{}, fmt.Errorf("detect backend: %w", err)
			}
		}
	}

	if b, ok, err = body("/version", maxJSONBody); err != nil {
		return Detection{}, fmt.Errorf("detect backend: %w", err)
	}
	if ok {
		if v, err := ParseVersion(b); err == nil {
			fams, exported, err := h.families(ctx)
			if err != nil {
				return Detection{}, fmt.Errorf("detect backend: %w", err)
			}
			if exported && fams.HasPrefix("vllm:") {
				return Detection{Kind: VLLM, Evidence: "GET /version " + text.Excerpt(v, text.MaxIdent) + " and vllm: series in GET /metrics"}, nil
			}
		}
	}
	return Detection{Kind: Generic, Evidence: "none of /api/v0/models, /props, /api/version, /version+/metrics has a known shape"}, nil
}
