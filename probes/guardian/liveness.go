package guardian

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/server/openai"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// maxModelsBody bounds how much of a /v1/models answer is read: a real list
// is a few hundred bytes; a wrong service on the port may stream forever.
const maxModelsBody = 1 << 20

// Liveness reasons, in the event log's "reason" attribute.
const (
	reasonTimeout      = "timeout"
	reasonConnect      = "connect"
	reasonStatus       = "status"
	reasonAuth         = "auth"
	reasonHTML         = "html"
	reasonNotJSON      = "not_json"
	reasonNoModels     = "no_models"
	reasonModelMissing = "model_missing"
)

// liveness is the outcome of one GET /v1/models.
type liveness struct {
	Status  int           // HTTP status; 0 when no response arrived
	Elapsed time.Duration // request start to body read (or failure)
	Models  []string      // the listed model ids, as the server sent them
	// Reason classifies a failure for the event log (the reason*
	// constants); empty when OK.
	Reason string
	// Err says what went wrong, redacted; it wraps the *openai.Error.
	Err error
}

// OK reports whether the server answered with a usable model list.
func (l liveness) OK() bool { return l.Err == nil }

// Auth reports whether the server refused our credentials (401 or 403): a
// fault on our side, which says nothing about whether the server serves.
func (l liveness) Auth() bool { return l.Reason == reasonAuth }

// probeModels runs GET /v1/models over c, bounded by timeout (and ctx). It
// passes on a 200 whose body is a JSON model list that is not empty and,
// when want is set, lists want (openai.Models.Served). A 200 that is HTML
// or not JSON fails: a captive portal or another service on the port is
// not the council. A 401 or 403 is reasonAuth, not a failure to serve.
func probeModels(ctx context.Context, c *transport.Client, timeout time.Duration, want string) liveness {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	api := openai.New(c)
	api.MaxBody = maxModelsBody
	_, models, err := api.ServedModel(ctx, want)
	res := liveness{Elapsed: time.Since(start), Models: models.IDs()}
	if err == nil {
		res.Status = 200
		return res
	}
	var e *openai.Error
	if !errors.As(err, &e) {
		res.Reason, res.Err = reasonConnect, err
		return res
	}
	res.Status = e.Status
	res.Reason = reason(e)
	detail := e.Detail
	if e.Limit == openai.LimitDeadline {
		detail = strings.Replace(detail, "the deadline", timeout.String(), 1)
	}
	res.Err = &livenessError{what: "GET " + redact.URL(c.BaseURL) + openai.ModelsPath, detail: detail, err: e}
	return res
}

// reason maps an openai failure to the guardian's reason.
func reason(e *openai.Error) string {
	switch {
	case e.Class == openai.Auth:
		return reasonAuth
	case e.Limit == openai.LimitDeadline:
		return reasonTimeout
	case e.Class == openai.Unreachable || e.Class == openai.Hang:
		return reasonConnect
	case e.Class == openai.HTTPError:
		return reasonStatus
	case errors.Is(e, openai.ErrHTML):
		return reasonHTML
	case errors.Is(e, openai.ErrModelNotListed):
		return reasonModelMissing
	case errors.Is(e, openai.ErrNoModels):
		return reasonNoModels
	}
	return reasonNotJSON
}

// livenessError names the request with its URL (password masked) and
// keeps the classified cause for errors.As.
type livenessError struct {
	what, detail string
	err          *openai.Error
}

func (e *livenessError) Error() string { return redact.String(fmt.Sprintf("%s: %s", e.what, e.detail)) }
func (e *livenessError) Unwrap() error { return e.err }

// authRefused reports a 401 or 403 from target's /v1/models: our side's
// fault, so UNKNOWN on the auth channel. The unreachable (or fallback_down)
// streak is left as it was: neither counted nor reset.
func (g *guardian) authRefused(live liveness, target string) {
	g.t.Unknown(CheckAuth, "auth_refused",
		fmt.Sprintf("the %s refused our credentials: %v; check --token-file (or the client certificate) against the server's; not counted as unreachable, nothing restarted",
			target, live.Err),
		"target", target, "probe_ms", live.Elapsed.Milliseconds(), "http_status", live.Status, "reason", live.Reason)
}
