package backend

import (
	"context"
	"fmt"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// vllmAdapter is vLLM's OpenAI-compatible server:
//
//	GET /health   200 empty when healthy; 503 empty when the engine is dead
//	              (vllm-project/vllm vllm/entrypoints/serve/instrumentator/health.py)
//	GET /version  {"version": "..."}
//	GET /metrics  vllm:num_requests_running, vllm:num_requests_waiting,
//	              vllm:kv_cache_usage_perc (vllm:gpu_cache_usage_perc before
//	              it), per engine (vllm-project/vllm docs/usage/metrics.md)
//
// vLLM serves only the models it loaded, so /v1/models is residency, and
// each entry's max_model_len is its context window.
type vllmAdapter struct{ h httpGetter }

func (vllmAdapter) Kind() Kind { return VLLM }

// Readiness: a 503 is the engine dead, a failure even while /v1/models
// still answers (the API process outlives the engine).
func (a vllmAdapter) Readiness(ctx context.Context) (Readiness, error) {
	resp, err := a.h.get(ctx, "/health", maxJSONBody)
	if err != nil {
		return Readiness{}, err
	}
	if msg, isErr := errorText(resp.body); isErr {
		// A 200 with an error object is not vLLM's empty-bodied health.
		return Readiness{State: Unknown, HTTPStatus: resp.status, Detail: "/health answered an error: " + text.Excerpt(msg, text.MaxIdent)}, nil
	}
	switch resp.status {
	case 200:
		return Readiness{State: Ready, Detail: "ok", HTTPStatus: 200}, nil
	case 503:
		d := "vLLM /health 503: engine dead"
		if w := text.Excerpt(string(resp.body), text.MaxIdent); w != "" {
			d += ": " + w
		}
		return Readiness{State: Failed, Detail: d, HTTPStatus: 503}, nil
	}
	return Readiness{State: Unknown, HTTPStatus: resp.status,
		Detail: fmt.Sprintf("/health HTTP %d: %s", resp.status, text.Excerpt(string(resp.body), text.MaxIdent))}, nil
}

func (a vllmAdapter) Models(ctx context.Context) (Models, error) {
	list, err := openAIList(ctx, a.h)
	if err != nil {
		return Models{}, err
	}
	ms := Models{Known: true}
	for _, m := range list {
		ms.Models = append(ms.Models, Model{ID: text.Excerpt(m.ID, text.MaxIdent), Residency: Resident, ContextLength: m.MaxModelLen})
	}
	return ms, nil
}

func (a vllmAdapter) Identity(ctx context.Context) (Identity, error) {
	resp, err := a.h.get(ctx, "/version", maxJSONBody)
	if err != nil {
		return Identity{}, err
	}
	if resp.status != 200 {
		return Identity{}, statusError("/version", resp)
	}
	v, err := ParseVersion(resp.body)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Version: text.Excerpt(v, text.MaxIdent)}, nil
}

func (a vllmAdapter) Metrics(ctx context.Context) (Metrics, error) {
	f, _, err := a.h.families(ctx)
	if err != nil {
		return Metrics{}, err
	}
	return Metrics{
		RequestsRunning: f.Sum("vllm:num_requests_running"),
		RequestsWaiting: f.Sum("vllm:num_requests_waiting"),
		KVCacheUsage:    f.Max("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
		ProgressTotal:   addCounters(f.Sum("vllm:prompt_tokens_total"), f.Sum("vllm:generation_tokens_total")),
	}, nil
}
