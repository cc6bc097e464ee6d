package backend

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// mlxAdapter is mlx-lm's server (ml-explore/mlx-lm mlx_lm/server.py). It
// serves GET /health ({"status": "ok"} once it answers at all) and GET
// /v1/models, which scans the Hugging Face cache and lists every downloaded
// MLX model, not the loaded one: residency is unknown. It reports no
// version, no loading state and no metrics. It is never auto-detected (its
// endpoints are a generic server's); choose it with --backend mlx.
type mlxAdapter struct{ h httpGetter }

func (mlxAdapter) Kind() Kind { return MLX }

func (a mlxAdapter) Readiness(ctx context.Context) (Readiness, error) {
	resp, err := a.h.get(ctx, "/health", maxJSONBody)
	if err != nil {
		return Readiness{}, err
	}
	var ok struct {
		Status string `json:"status"`
	}
	if resp.status == 200 && json.Unmarshal(resp.body, &ok) == nil && ok.Status == "ok" {
		return Readiness{State: Ready, Detail: "ok", HTTPStatus: 200}, nil
	}
	return Readiness{State: Unknown, HTTPStatus: resp.status,
		Detail: fmt.Sprintf("/health HTTP %d: %s", resp.status, text.Excerpt(string(resp.body), text.MaxIdent))}, nil
}

func (a mlxAdapter) Models(ctx context.Context) (Models, error) { return listedModels(ctx, a.h) }

func (mlxAdapter) Identity(context.Context) (Identity, error) { return Identity{}, nil }

func (mlxAdapter) Metrics(context.Context) (Metrics, error) { return Metrics{}, nil }
