package backend

import (
	"context"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// lmstudioAdapter is LM Studio's REST API v0 (lmstudio-ai/docs
// 1_developer/2_rest/endpoints.mdx): GET /api/v0/models lists every
// downloaded model with "state": "loaded" or "not-loaded". It reports no
// version, no loading state and no metrics, and answers 200 with
// {"error":"Unexpected endpoint or method. (GET /x)"} to any other path.
type lmstudioAdapter struct{ h httpGetter }

func (lmstudioAdapter) Kind() Kind { return LMStudio }

func (a lmstudioAdapter) models(ctx context.Context) ([]LMStudioModel, int, error) {
	resp, err := a.h.get(ctx, "/api/v0/models", maxJSONBody)
	if err != nil {
		return nil, 0, err
	}
	if resp.status != 200 {
		return nil, resp.status, statusError("/api/v0/models", resp)
	}
	list, err := ParseLMStudioModels(resp.body)
	return list, 200, err
}

// Readiness: the REST API answers once the server runs; LM Studio loads
// models just in time and says nothing of a load in progress.
func (a lmstudioAdapter) Readiness(ctx context.Context) (Readiness, error) {
	_, status, err := a.models(ctx)
	if err != nil {
		if status == 0 && !isNotShape(err) {
			return Readiness{}, err
		}
		return Readiness{State: Unknown, HTTPStatus: status, Detail: text.Excerpt(err.Error(), text.MaxIdent)}, nil
	}
	return Readiness{State: Ready, Detail: "ok", HTTPStatus: 200}, nil
}

func (a lmstudioAdapter) Models(ctx context.Context) (Models, error) {
	list, _, err := a.models(ctx)
	if err != nil {
		return Models{}, err
	}
	ms := Models{Known: true}
	for _, m := range list {
		r := ResidencyUnknown
		switch m.State {
		case "loaded":
			r = Resident
		case "not-loaded":
			r = NotResident
		}
		ms.Models = append(ms.Models, Model{ID: text.Excerpt(m.ID, text.MaxIdent), Residency: r})
	}
	return ms, nil
}

func (lmstudioAdapter) Identity(context.Context) (Identity, error) { return Identity{}, nil }

func (lmstudioAdapter) Metrics(context.Context) (Metrics, error) { return Metrics{}, nil }
