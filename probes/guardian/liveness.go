package guardian

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/transport"
)

// maxModelsBody bounds how much of a /v1/models answer is read: a real list
// is a few hundred bytes; a wrong service on the port may stream forever.
const maxModelsBody = 1 << 20

// Liveness is the outcome of one GET /v1/models.
type Liveness struct {
	Status  int           // HTTP status; 0 when no response arrived
	Elapsed time.Duration // request start to body read (or failure)
	Models  []string      // the listed model ids
	// Reason classifies a failure for the event log: timeout, connect,
	// status, html, not_json, no_models, model_missing; empty when OK.
	Reason string
	Err    error
}

// OK reports whether the server answered with a usable model list.
func (l Liveness) OK() bool { return l.Err == nil }

type modelList struct {
	Data []struct {
		ID string `json:"id"`
	} `json:"data"`
}

// ProbeModels runs GET /v1/models over c, bounded by timeout (and ctx). It
// passes on a 200 whose body is a JSON model list that is not empty and,
// when want is set, lists want. A 200 that is HTML or not JSON fails: a
// captive portal or another service on the port is not the council.
func ProbeModels(ctx context.Context, c *transport.Client, timeout time.Duration, want string) Liveness {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := Liveness{}
	fail := func(reason string, err error) Liveness {
		res.Elapsed, res.Reason, res.Err = time.Since(start), reason, err
		return res
	}
	req, err := c.NewRequest(ctx, http.MethodGet, "/v1/models", nil)
	if err != nil {
		return fail("connect", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fail("timeout", fmt.Errorf("GET %s/v1/models: no answer within %s", c.BaseURL, timeout))
		}
		return fail("connect", fmt.Errorf("GET %s/v1/models: %w", c.BaseURL, unwrapURLError(err)))
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxModelsBody))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fail("timeout", fmt.Errorf("GET %s/v1/models: body not complete within %s", c.BaseURL, timeout))
		}
		return fail("connect", fmt.Errorf("GET %s/v1/models: read body: %w", c.BaseURL, err))
	}
	if resp.StatusCode != http.StatusOK {
		// The body is not quoted: a wrong service on the port might echo
		// the request, Authorization header included.
		return fail("status", fmt.Errorf("GET %s/v1/models: HTTP %d (%s)", c.BaseURL, resp.StatusCode, orNone(resp.Header.Get("Content-Type"))))
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	trimmed := bytes.TrimSpace(body)
	if mediaType == "text/html" || bytes.HasPrefix(trimmed, []byte("<")) {
		return fail("html", fmt.Errorf("GET %s/v1/models: HTTP 200 but HTML (%s), not the council's model list", c.BaseURL, orNone(mediaType)))
	}
	var list modelList
	if err := json.Unmarshal(trimmed, &list); err != nil {
		return fail("not_json", fmt.Errorf("GET %s/v1/models: HTTP 200 but not a JSON model list: %v", c.BaseURL, err))
	}
	for _, m := range list.Data {
		if m.ID != "" {
			res.Models = append(res.Models, m.ID)
		}
	}
	if len(res.Models) == 0 {
		return fail("no_models", fmt.Errorf("GET %s/v1/models: HTTP 200 but the model list is empty", c.BaseURL))
	}
	if want != "" && !contains(res.Models, want) {
		return fail("model_missing", fmt.Errorf("GET %s/v1/models: model %q not listed (serving %s)", c.BaseURL, want, strings.Join(res.Models, ", ")))
	}
	res.Elapsed = time.Since(start)
	return res
}

// unwrapURLError drops *url.Error's "Get \"url\":" prefix, which the
// caller's message already carries.
func unwrapURLError(err error) error {
	if u := errors.Unwrap(err); u != nil && strings.HasPrefix(err.Error(), "Get ") {
		return u
	}
	return err
}

func orNone(s string) string {
	if s == "" {
		return "no Content-Type"
	}
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
