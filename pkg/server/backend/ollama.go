package backend

import (
	"context"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// ollamaAdapter is Ollama (ollama/ollama docs/api.md):
//
//	GET /api/version  {"version":"0.5.1"}
//	GET /api/ps       loaded models: name, size, size_vram, digest, expires_at,
//	                  context_length (the window it was loaded with)
//	GET /api/tags     local (downloaded) models
//
// Its /v1/models lists the downloads, not the loaded models; /api/ps is the
// residency. It reports no loading state and exports no /metrics.
type ollamaAdapter struct{ h httpGetter }

func (ollamaAdapter) Kind() Kind { return Ollama }

// Readiness: the server answers /api/version once it is up; it has no
// loading state of its own (a model loads on first request).
func (a ollamaAdapter) Readiness(ctx context.Context) (Readiness, error) {
	resp, err := a.h.get(ctx, "/api/version", maxJSONBody)
	if err != nil {
		return Readiness{}, err
	}
	if resp.status != 200 {
		return Readiness{State: Unknown, HTTPStatus: resp.status, Detail: statusError("/api/version", resp).Error()}, nil
	}
	if _, err := ParseVersion(resp.body); err != nil {
		return Readiness{State: Unknown, HTTPStatus: 200, Detail: text.Excerpt(err.Error(), text.MaxIdent)}, nil
	}
	return Readiness{State: Ready, Detail: "ok", HTTPStatus: 200}, nil
}

func (a ollamaAdapter) list(ctx context.Context, path string) ([]OllamaModel, error) {
	resp, err := a.h.get(ctx, path, maxJSONBody)
	if err != nil {
		return nil, err
	}
	if resp.status != 200 {
		return nil, statusError(path, resp)
	}
	return ParseOllamaModels(resp.body)
}

// Models: every loaded model from /api/ps with its residency, then every
// downloaded one from /api/tags that is not loaded.
func (a ollamaAdapter) Models(ctx context.Context) (Models, error) {
	ps, err := a.list(ctx, "/api/ps")
	if err != nil {
		return Models{}, err
	}
	ms := Models{Known: true}
	loaded := map[string]bool{}
	for _, m := range ps {
		id := ollamaID(m)
		loaded[id] = true
		ms.Models = append(ms.Models, Model{ID: text.Excerpt(id, text.MaxIdent), Residency: Resident, Digest: text.Excerpt(m.Digest, text.MaxIdent),
			Size: m.Size, SizeVRAM: m.SizeVRAM, ExpiresAt: m.ExpiresAt, ContextLength: m.ContextLength, Tagged: true})
	}
	if tags, err := a.list(ctx, "/api/tags"); err == nil {
		for _, m := range tags {
			if id := ollamaID(m); !loaded[id] {
				ms.Models = append(ms.Models, Model{ID: text.Excerpt(id, text.MaxIdent), Residency: NotResident, Digest: text.Excerpt(m.Digest, text.MaxIdent), Tagged: true})
			}
		}
	}
	return ms, nil
}

func ollamaID(m OllamaModel) string {
	if m.Model != "" {
		return m.Model
	}
	return m.Name
}

// Identity: the server version, and the digest of the first loaded model.
func (a ollamaAdapter) Identity(ctx context.Context) (Identity, error) {
	resp, err := a.h.get(ctx, "/api/version", maxJSONBody)
	if err != nil {
		return Identity{}, err
	}
	if resp.status != 200 {
		return Identity{}, statusError("/api/version", resp)
	}
	v, err := ParseVersion(resp.body)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Version: text.Excerpt(v, text.MaxIdent)}
	if ps, err := a.list(ctx, "/api/ps"); err == nil && len(ps) > 0 {
		id.ModelDigest = text.Excerpt(ps[0].Digest, text.MaxIdent)
	}
	return id, nil
}

func (ollamaAdapter) Metrics(context.Context) (Metrics, error) { return Metrics{}, nil }
