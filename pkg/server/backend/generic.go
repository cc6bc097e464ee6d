package backend

import (
	"context"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// genericAdapter is any OpenAI-compatible server: it can say nothing about
// itself beyond the OpenAI subset, so everything here is unknown. It lists
// /v1/models, but a listed model is not a loaded one (mlx-lm and Ollama
// list downloads), so residency stays unknown.
type genericAdapter struct{ h httpGetter }

func (genericAdapter) Kind() Kind { return Generic }

func (genericAdapter) Readiness(context.Context) (Readiness, error) {
	return Readiness{State: Unknown, Detail: "the generic backend has no readiness endpoint"}, nil
}

func (a genericAdapter) Models(ctx context.Context) (Models, error) {
	return listedModels(ctx, a.h)
}

func (genericAdapter) Identity(context.Context) (Identity, error) { return Identity{}, nil }

func (genericAdapter) Metrics(context.Context) (Metrics, error) { return Metrics{}, nil }

// listedModels reads /v1/models with every residency unknown (and no
// context window: only vLLM documents one there).
func listedModels(ctx context.Context, h httpGetter) (Models, error) {
	list, err := openAIList(ctx, h)
	if err != nil {
		return Models{}, err
	}
	ms := Models{Known: false}
	for _, m := range list {
		ms.Models = append(ms.Models, Model{ID: text.Excerpt(m.ID, text.MaxIdent), Residency: ResidencyUnknown})
	}
	return ms, nil
}

// openAIList reads and parses GET /v1/models.
func openAIList(ctx context.Context, h httpGetter) ([]OpenAIModel, error) {
	resp, err := h.get(ctx, "/v1/models", maxJSONBody)
	if err != nil {
		return nil, err
	}
	if resp.status != 200 {
		return nil, statusError("/v1/models", resp)
	}
	return ParseOpenAIModels(resp.body)
}
