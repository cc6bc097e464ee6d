package openai

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/text"
)

// Model is one entry of /v1/models.
type Model struct {
	ID      string `json:"id"`
	OwnedBy string `json:"owned_by,omitempty"`
}

// Models is a /v1/models answer.
type Models struct {
	Data []Model `json:"data"`
	// Timings of the request.
	Timings Timings `json:"-"`
}

// IDs returns the non-empty model ids, in the server's order.
func (m Models) IDs() []string {
	var ids []string
	for _, d := range m.Data {
		if d.ID != "" {
			ids = append(ids, d.ID)
		}
	}
	return ids
}

// Served is the model a probe asks: want when the server lists it, an
// error (ErrModelNotListed, naming the listed ids, redacted) when it does
// not; with want empty, the first non-empty id listed, or ErrNoModels.
// Every probe resolves the model with this one rule.
func (m Models) Served(want string) (string, error) {
	ids := m.IDs()
	if len(ids) == 0 {
		return "", ErrNoModels
	}
	if want == "" {
		return ids[0], nil
	}
	for _, id := range ids {
		if id == want {
			return want, nil
		}
	}
	return "", fmt.Errorf("%w: %q (serving %s)", ErrModelNotListed, redact.String(want), redact.String(strings.Join(ids, ", ")))
}

// ListModels asks GET /v1/models. A 200 that is not a JSON object with a
// "data" list is a BadResponse; an empty list is returned as it is (Served
// says so).
func (c *Client) ListModels(ctx context.Context) (Models, error) {
	var m Models
	x, err := c.sendOK(ctx, http.MethodGet, ModelsPath, nil, "application/json", &m.Timings)
	if err != nil {
		return m, err
	}
	defer x.close()
	data, err := c.readBody(x)
	if err != nil {
		return m, err
	}
	if err := decodeJSON(x, data, &m); err != nil {
		return m, err
	}
	for i := range m.Data {
		m.Data[i].ID, m.Data[i].OwnedBy = text.Ident(m.Data[i].ID), text.Ident(m.Data[i].OwnedBy)
	}
	return m, nil
}

// ServedModel is ListModels then Served(want), with a failure of either as
// an *Error (Served's as a BadResponse).
func (c *Client) ServedModel(ctx context.Context, want string) (string, Models, error) {
	m, err := c.ListModels(ctx)
	if err != nil {
		return "", m, err
	}
	id, err := m.Served(want)
	if err != nil {
		detail := "lists no models"
		if want != "" {
			detail = err.Error()
		}
		return "", m, &Error{Class: BadResponse, Op: http.MethodGet + " " + ModelsPath, Status: http.StatusOK, Detail: detail, Err: err}
	}
	return id, m, nil
}
