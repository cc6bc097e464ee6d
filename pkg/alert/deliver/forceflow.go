package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sanctum/council-probes/pkg/alert"
)

// ErrRejected marks a permanent refusal (HTTP 4xx): retrying cannot help, so
// the notice is logged and dropped instead of spooled.
var ErrRejected = errors.New("alert rejected")

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

// NewRetryClient returns the retrying HTTP client alert delivery uses: a
// short per-attempt timeout and a small number of quick retries on
// connection errors and 5xx, so that a tick never hangs on the notifier. The
// caller's context bounds the whole budget.
func NewRetryClient(attemptTimeout time.Duration) *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.Logger = nil // events are the probe's to log, not the library's
	c.RetryMax = 2
	c.RetryWaitMin = 100 * time.Millisecond
	c.RetryWaitMax = 500 * time.Millisecond
	c.HTTPClient.Timeout = attemptTimeout
	// Hand the last response back instead of an opaque "giving up" error,
	// so the caller can tell a 5xx (spool) from a 4xx (drop).
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
		Source: n.Source(), Severity: n.Severity, Title: n.Title, Message: n.Message,
		ForceChannels: n.ForceChannels,
	})
}

// DryRun implements Sink.
func (f *ForceFlow) DryRun(n alert.Notice) string {
	body, _ := f.payload(n)
	return fmt.Sprintf("POST %s %s", f.URL, body)
}

// Deliver implements Sink.
func (f *ForceFlow) Deliver(ctx context.Context, n alert.Notice) (Receipt, error) {
	body, err := f.payload(n)
	if err != nil {
		return Receipt{}, fmt.Errorf("force flow: encode: %w: %w", err, ErrRejected)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(body))
	if err != nil {
		return Receipt{}, fmt.Errorf("force flow POST %s: %w: %w", f.URL, err, ErrRejected)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.Client.Do(req)
	if err != nil {
		return Receipt{}, fmt.Errorf("force flow POST %s: %w", f.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return decodeReceipt("force flow", f.URL, resp.StatusCode, raw)
}

// decodeReceipt turns an HTTP answer into a receipt or a classified error:
// 2xx delivered, 4xx rejected for good (except 429, which asks to come back
// later), anything else retryable.
func decodeReceipt(sink, url string, status int, raw []byte) (Receipt, error) {
	r := Receipt{HTTPStatus: status}
	switch {
	case status >= 200 && status < 300:
		_ = json.Unmarshal(raw, &r) // the receipt body is informative only
		return r, nil
	case status == http.StatusTooManyRequests:
		// "Not now" is not a rejection: keep it for a later tick.
		return r, fmt.Errorf("%s POST %s: HTTP %d (rate limited): %s", sink, url, status, excerpt(raw))
	case status >= 400 && status < 500:
		return r, fmt.Errorf("%s POST %s: HTTP %d: %s: %w", sink, url, status, excerpt(raw), ErrRejected)
	default:
		return r, fmt.Errorf("%s POST %s: HTTP %d: %s", sink, url, status, excerpt(raw))
	}
}

// excerpt shortens a response body for an error message.
func excerpt(b []byte) string {
	const max = 200
	s := string(bytes.TrimSpace(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
