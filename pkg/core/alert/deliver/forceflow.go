package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/text"
)

// ErrRejected marks a permanent refusal of the payload itself (Force Flow's
// 400 naming it invalid): retrying cannot help, so the notice is logged and
// dropped instead of spooled. Every other refusal (401, 403, 404, 413, a
// redirect, a body that is not a receipt) is a fault of the path to the
// notifier, which an operator can fix: those are kept and retried.
var ErrRejected = errors.New("alert rejected")

// IdempotencyHeader carries the notice's stable id (alert.Notice.Key) on
// every request, so a notifier that got an attempt the sender gave up on
// (a slow answer, then a retry on a later tick) can recognise the repeat.
const IdempotencyHeader = "Idempotency-Key"

// Receipt is what a sink reports about a delivered notice.
type Receipt struct {
	Status string `json:"status,omitempty"`
	// Force Flow's answer fields.
	Channels     []string `json:"channels,omitempty"`
	Deduplicated bool     `json:"deduplicated,omitempty"`
	RateLimited  bool     `json:"rate_limited,omitempty"`
	QuietHours   bool     `json:"quiet_hours,omitempty"`
	HTTPStatus   int      `json:"-"`
}

// Sink delivers notices somewhere. Force Flow and Alertmanager are the two
// implementations.
type Sink interface {
	// Name identifies the sink in the outbox and in events ("forceflow").
	Name() string
	// Deliver sends n. An error wrapping ErrRejected is permanent; any other
	// error means "try again later".
	Deliver(ctx context.Context, n alert.Notice) (Receipt, error)
	// DryRun describes the request Deliver would make, without making it.
	DryRun(n alert.Notice) string
}

// ForceFlow posts notices to the house notification hub.
type ForceFlow struct {
	URL    string
	Client *retryablehttp.Client
}

// NewRetryClient returns the retrying HTTP client alert delivery uses.
//
// An attempt has no timeout of its own: the caller's context (the alert
// budget) bounds it, so a notifier that answers slowly but inside the budget
// is answered once instead of being cut off and sent the alert again. Quick
// retries (two, 100-500 ms apart) cover connection errors and 5xx while
// budget remains.
//
// Like the council transport, it never follows a redirect (the alert, and
// any credential in the URL, would go where the redirect says) and ignores
// HTTP_PROXY and HTTPS_PROXY (a proxy could read or swallow alerts).
func NewRetryClient() *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.Logger = nil // events are the probe's to log, not the library's
	c.RetryMax = 2
	c.RetryWaitMin = 100 * time.Millisecond
	c.RetryWaitMax = 500 * time.Millisecond
	c.HTTPClient = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			MaxIdleConns:          2,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: 0, // the caller's context decides
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// Hand the last response back instead of an opaque "giving up" error,
	// so the caller can classify it.
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return c
}

// NewForceFlow returns a Force Flow sink posting to url.
func NewForceFlow(url string, client *retryablehttp.Client) *ForceFlow {
	return &ForceFlow{URL: url, Client: client}
}

// Name implements Sink.
func (f *ForceFlow) Name() string { return "forceflow" }

func (f *ForceFlow) payload(n alert.Notice) ([]byte, error) {
	return json.Marshal(alert.ForceFlowPayload{
		Source: n.Source(), Severity: n.Severity, Title: redact.String(n.Title), Message: redact.String(n.Message),
		ForceChannels: n.ForceChannels,
	})
}

// DryRun implements Sink.
func (f *ForceFlow) DryRun(n alert.Notice) string {
	body, _ := f.payload(n)
	return fmt.Sprintf("POST %s %s", redact.URL(f.URL), body)
}

// Deliver implements Sink.
func (f *ForceFlow) Deliver(ctx context.Context, n alert.Notice) (Receipt, error) {
	shown := redact.URL(f.URL)
	body, err := f.payload(n)
	if err != nil {
		return Receipt{}, fmt.Errorf("force flow: encode: %w: %w", err, ErrRejected)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(body))
	if err != nil {
		return Receipt{}, fmt.Errorf("force flow POST %s: %s: %w", shown, redact.Error(err), ErrRejected)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(IdempotencyHeader, n.Key())
	resp, err := f.Client.Do(req)
	if err != nil {
		return Receipt{}, fmt.Errorf("force flow POST %s: %s", shown, redact.Error(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return forceFlowReceipt(shown, resp, raw)
}

// forceFlowReceipt classifies Force Flow's answer. A 2xx is a delivery only
// when its body is Force Flow's receipt: a JSON object with a status that
// is not an error (a captive portal's HTML page or {"status":"error"} is
// not). A 400 whose error names the payload is a permanent refusal;
// everything else is kept for a later tick.
func forceFlowReceipt(url string, resp *http.Response, raw []byte) (Receipt, error) {
	status := resp.StatusCode
	r := Receipt{HTTPStatus: status}
	switch {
	case status >= 200 && status < 300:
		var body struct {
			Receipt
			Error string `json:"error"`
		}
		if err := json.Unmarshal(raw, &body); err != nil || body.Status == "" || body.Error != "" || failedStatus(body.Status) {
			return r, fmt.Errorf("force flow POST %s: HTTP %d, but the answer is not a Force Flow receipt: %s", url, status, excerpt(raw))
		}
		body.Receipt.HTTPStatus = status
		return body.Receipt, nil
	case status >= 300 && status < 400:
		return r, fmt.Errorf("force flow POST %s: HTTP %d redirect to %s, not followed", url, status, redact.URL(resp.Header.Get("Location")))
	case status == http.StatusBadRequest && namesPayload(raw):
		return r, fmt.Errorf("force flow POST %s: HTTP %d: %s: %w", url, status, excerpt(raw), ErrRejected)
	default:
		return r, fmt.Errorf("force flow POST %s: HTTP %d: %s", url, status, excerpt(raw))
	}
}

// failedStatus reports a receipt status that says the alert did not go out.
func failedStatus(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "error") || strings.Contains(s, "fail")
}

// namesPayload reports whether a 400 body is Force Flow's validation error:
// a JSON object whose "error" names the payload or one of its fields. A 400
// from anything else on the way (a proxy's HTML page, a bare "bad request")
// is not a verdict on the alert.
func namesPayload(raw []byte) bool {
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &body) != nil || body.Error == "" {
		return false
	}
	e := strings.ToLower(body.Error)
	for _, w := range []string{"invalid", "payload", "json", "source", "severity", "title", "message", "force_channels"} {
		if strings.Contains(e, w) {
			return true
		}
	}
	return false
}

// decodeReceipt turns an Alertmanager answer into a receipt or a classified
// error: 2xx delivered, 400 (Alertmanager's verdict on the alerts
// themselves) rejected for good, anything else retryable.
func decodeReceipt(sink, url string, status int, raw []byte) (Receipt, error) {
	r := Receipt{HTTPStatus: status}
	switch {
	case status >= 200 && status < 300:
		_ = json.Unmarshal(raw, &r) // the receipt body is informative only
		return r, nil
	case status == http.StatusBadRequest:
		return r, fmt.Errorf("%s POST %s: HTTP %d: %s: %w", sink, url, status, excerpt(raw), ErrRejected)
	default:
		return r, fmt.Errorf("%s POST %s: HTTP %d: %s", sink, url, status, excerpt(raw))
	}
}

// excerpt shortens a response body for an error message, with anything
// secret-shaped masked.
func excerpt(b []byte) string { return text.Excerpt(string(b), 200) }
