package backend

import (
	"context"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// llamaAdapter is llama.cpp's llama-server (ggml-org/llama.cpp
// tools/server/README.md):
//
//	GET /health   200 {"status":"ok"}; 503 {"error":{"message":"Loading model",...}}
//	GET /props    model_path, build_info, is_sleeping (sleeping on idle unloads the model),
//	              default_generation_settings.n_ctx (a slot's context window)
//	GET /metrics  with --metrics: llamacpp:requests_processing, llamacpp:requests_deferred
//
// Current builds export no KV-cache ratio; older ones exported
// llamacpp:kv_cache_usage_ratio, read when present.
type llamaAdapter struct{ h httpGetter }

func (llamaAdapter) Kind() Kind { return LlamaServer }

func (a llamaAdapter) Readiness(ctx context.Context) (Readiness, error) {
	resp, err := a.h.get(ctx, "/health", maxJSONBody)
	if err != nil {
		return Readiness{}, err
	}
	return ParseLlamaHealth(resp.status, resp.body), nil
}

func (a llamaAdapter) props(ctx context.Context) (LlamaProps, error) {
	resp, err := a.h.get(ctx, "/props", maxJSONBody)
	if err != nil {
		return LlamaProps{}, err
	}
	if resp.status != 200 {
		return LlamaProps{}, statusError("/props", resp)
	}
	return ParseLlamaProps(resp.body)
}

// Models is the one model llama-server serves: its path from /props, its id
// (the --alias, or the path) from /v1/models. Sleeping means unloaded.
func (a llamaAdapter) Models(ctx context.Context) (Models, error) {
	p, err := a.props(ctx)
	if err != nil {
		return Models{}, err
	}
	path := text.Excerpt(p.ModelPath, text.MaxIdent)
	m := Model{ID: path, Path: path, Residency: Resident, ContextLength: p.NCtx}
	if p.IsSleeping {
		m.Residency = NotResident
	}
	if listed, err := listedModels(ctx, a.h); err == nil && len(listed.Models) > 0 {
		m.ID = listed.Models[0].ID
	}
	return Models{Known: true, Models: []Model{m}}, nil
}

func (a llamaAdapter) Identity(ctx context.Context) (Identity, error) {
	p, err := a.props(ctx)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Build: text.Excerpt(p.BuildInfo, text.MaxIdent), ModelPath: text.Excerpt(p.ModelPath, text.MaxIdent)}, nil
}

func (a llamaAdapter) Metrics(ctx context.Context) (Metrics, error) {
	f, _, err := a.h.families(ctx)
	if err != nil {
		return Metrics{}, err
	}
	return Metrics{
		RequestsRunning: f.Sum("llamacpp:requests_processing"),
		RequestsWaiting: f.Sum("llamacpp:requests_deferred"),
		KVCacheUsage:    f.Max("llamacpp:kv_cache_usage_ratio"),
		ProgressTotal:   addCounters(f.Sum("llamacpp:prompt_tokens_total"), f.Sum("llamacpp:tokens_predicted_total"), f.Sum("llamacpp:n_decode_total")),
	}, nil
}
