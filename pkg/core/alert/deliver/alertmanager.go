package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/redact"
)

// DefaultAlertmanagerHold is how long a firing alert stays active in
// Alertmanager without being sent again, when the sink has no Hold function.
const DefaultAlertmanagerHold = time.Hour

// Alertmanager posts notices to a Prometheus Alertmanager (API v2), so a
// fleet of council hosts is routed, grouped, inhibited and silenced with the
// tool built for it.
//
// Every alert carries the labels alertname (the check), probe, severity and
// instance, and the annotations summary (the notice title) and description
// (its message).
//
// Resolve window. Alertmanager resolves an alert by itself once its endsAt
// passes (resolve_timeout, 5 minutes by default, when the client sets none),
// but the alert engine re-alerts a firing channel only once per cooldown
// (often 30 minutes). So a firing alert is sent with endsAt = now + Hold(check),
// where the probe sets Hold to the channel's cooldown plus three probe
// intervals: the engine's next re-alert (at most cooldown + one interval
// later) extends it before it lapses, two missed ticks are tolerated, and a
// probe that stops ticking lets its alerts lapse within a bounded time
// instead of pinning them forever (Prometheus' staleness rule on
// council_probe_last_run_timestamp_seconds reports the silent probe itself).
//
// Recovery. Alertmanager identifies an alert by its whole label set, and
// severity is a label, but a recovery notice does not say at which severity
// the channel fired (and an escalation from warn to error leaves two alerts).
// So a resolved notice first asks Alertmanager for the channel's active alerts
// (GET /api/v2/alerts filtered on alertname, probe and instance) and resolves
// exactly those, with endsAt = the time of recovery. If that query is refused
// (4xx, e.g. a receiver that implements only POST), it resolves the channel at
// every severity instead.
type Alertmanager struct {
	// URL is Alertmanager's base URL (http://host:9093); /api/v2/alerts is
	// appended unless already there.
	URL string
	// Instance is the instance label: this council host.
	Instance string
	Client   *retryablehttp.Client
	// Hold returns how long a firing alert of check stays active without a
	// re-send; nil means DefaultAlertmanagerHold.
	Hold func(check string) time.Duration
	Now  func() time.Time
}

// NewAlertmanager returns an Alertmanager sink. An empty instance is the
// host name.
func NewAlertmanager(baseURL, instance string, client *retryablehttp.Client) *Alertmanager {
	if instance == "" {
		instance, _ = os.Hostname()
	}
	return &Alertmanager{URL: baseURL, Instance: instance, Client: client, Now: time.Now}
}

// Name implements Sink.
func (a *Alertmanager) Name() string { return "alertmanager" }

// endpoint is the v2 alerts URL.
func (a *Alertmanager) endpoint() string {
	u := strings.TrimRight(a.URL, "/")
	return strings.TrimSuffix(u, "/api/v2/alerts") + "/api/v2/alerts"
}

func (a *Alertmanager) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Alertmanager) hold(check string) time.Duration {
	if a.Hold != nil {
		if h := a.Hold(check); h > 0 {
			return h
		}
	}
	return DefaultAlertmanagerHold
}

// labels is the identity of n's channel at severity sev.
func (a *Alertmanager) labels(n alert.Notice, sev alert.Severity) map[string]string {
	return map[string]string{"alertname": n.Check, "probe": n.Probe, "severity": string(sev), "instance": a.Instance}
}

func annotations(n alert.Notice) map[string]string {
	return map[string]string{"summary": redact.String(n.Title), "description": redact.String(n.Message)}
}

func startOf(n alert.Notice) time.Time {
	if n.StartsAt.IsZero() {
		return n.At
	}
	return n.StartsAt
}

// firing is the alert for a firing notice.
func (a *Alertmanager) firing(n alert.Notice) alert.AlertmanagerAlert {
	starts := startOf(n)
	ends := a.now().Add(a.hold(n.Check))
	if ends.Before(starts) {
		ends = starts.Add(a.hold(n.Check))
	}
	return alert.AlertmanagerAlert{Labels: a.labels(n, n.Severity), Annotations: annotations(n), StartsAt: starts, EndsAt: ends}
}

// resolvedAll resolves n's channel at every severity (when the active alerts
// cannot be listed).
func (a *Alertmanager) resolvedAll(n alert.Notice) []alert.AlertmanagerAlert {
	var out []alert.AlertmanagerAlert
	for _, sev := range []alert.Severity{alert.Info, alert.Warn, alert.Error, alert.Critical} {
		out = append(out, alert.AlertmanagerAlert{Labels: a.labels(n, sev), Annotations: annotations(n), StartsAt: startOf(n), EndsAt: endOf(startOf(n), n.At)})
	}
	return out
}

// endOf keeps endsAt at or after startsAt, which Alertmanager requires.
func endOf(starts, at time.Time) time.Time {
	if at.Before(starts) {
		return starts
	}
	return at
}

// DryRun implements Sink.
func (a *Alertmanager) DryRun(n alert.Notice) string {
	if n.Resolved {
		return fmt.Sprintf("GET %s?%s, then POST %s resolving each active alert with endsAt=%s %s",
			redact.URL(a.endpoint()), a.activeQuery(n).Encode(), redact.URL(a.endpoint()), n.At.UTC().Format(time.RFC3339), mustJSON(annotations(n)))
	}
	return fmt.Sprintf("POST %s %s", redact.URL(a.endpoint()), mustJSON([]alert.AlertmanagerAlert{a.firing(n)}))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// Deliver implements Sink: 2xx delivered, 400 (Alertmanager refusing the
// alerts themselves) rejected for good (ErrRejected), anything else
// (connection errors, 401, 404, 429, 5xx, a redirect) retryable.
func (a *Alertmanager) Deliver(ctx context.Context, n alert.Notice) (Receipt, error) {
	if !n.Resolved {
		r, err := a.post(ctx, []alert.AlertmanagerAlert{a.firing(n)})
		r.Status = "firing"
		return r, err
	}
	active, err := a.active(ctx, n)
	var alerts []alert.AlertmanagerAlert
	switch {
	case errors.Is(err, ErrRejected):
		alerts = a.resolvedAll(n)
	case err != nil:
		return Receipt{}, err
	default:
		for _, x := range active {
			alerts = append(alerts, alert.AlertmanagerAlert{Labels: x.Labels, Annotations: annotations(n), StartsAt: x.StartsAt, EndsAt: endOf(x.StartsAt, n.At)})
		}
	}
	if len(alerts) == 0 {
		// Nothing active (it lapsed, or Alertmanager lost it): nothing to
		// resolve.
		return Receipt{Status: "resolved (none active)", HTTPStatus: http.StatusOK}, nil
	}
	r, err := a.post(ctx, alerts)
	r.Status = "resolved"
	return r, err
}

func (a *Alertmanager) post(ctx context.Context, alerts []alert.AlertmanagerAlert) (Receipt, error) {
	body, err := json.Marshal(alerts)
	if err != nil {
		return Receipt{}, fmt.Errorf("alertmanager: encode: %w: %w", err, ErrRejected)
	}
	u, shown := a.endpoint(), redact.URL(a.endpoint())
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return Receipt{}, fmt.Errorf("alertmanager POST %s: %s: %w", shown, redact.Error(err), ErrRejected)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.Client.Do(req)
	if err != nil {
		return Receipt{}, fmt.Errorf("alertmanager POST %s: %s", shown, redact.Error(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return decodeReceipt("alertmanager", shown, resp.StatusCode, raw)
}

// activeQuery selects n's channel on this instance, at any severity.
func (a *Alertmanager) activeQuery(n alert.Notice) url.Values {
	q := url.Values{}
	for _, kv := range [][2]string{{"alertname", n.Check}, {"probe", n.Probe}, {"instance", a.Instance}} {
		q.Add("filter", kv[0]+"="+strconv.Quote(kv[1]))
	}
	q.Set("active", "true")
	q.Set("silenced", "true")
	q.Set("inhibited", "true")
	return q
}

// active lists the channel's alerts that Alertmanager still holds active.
func (a *Alertmanager) active(ctx context.Context, n alert.Notice) ([]alert.AlertmanagerAlert, error) {
	u, shown := a.endpoint()+"?"+a.activeQuery(n).Encode(), redact.URL(a.endpoint())
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("alertmanager GET %s: %s: %w", shown, redact.Error(err), ErrRejected)
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alertmanager GET %s: %s", shown, redact.Error(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return nil, fmt.Errorf("alertmanager GET %s: HTTP %d: %s: %w", shown, resp.StatusCode, excerpt(raw), ErrRejected)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		return nil, fmt.Errorf("alertmanager GET %s: HTTP %d: %s", shown, resp.StatusCode, excerpt(raw))
	}
	var all []alert.AlertmanagerAlert
	if err := json.Unmarshal(raw, &all); err != nil {
		// A 2xx we cannot read is a broken server, not a refusal: retry.
		return nil, fmt.Errorf("alertmanager GET %s: decode: %w", shown, err)
	}
	// Filter again here: the answer must be exactly this channel, whatever
	// the server made of the filter.
	now := a.now()
	var out []alert.AlertmanagerAlert
	for _, x := range all {
		l := x.Labels
		if l["alertname"] != n.Check || l["probe"] != n.Probe || l["instance"] != a.Instance {
			continue
		}
		if !x.EndsAt.IsZero() && !x.EndsAt.After(now) {
			continue
		}
		out = append(out, x)
	}
	return out, nil
}
