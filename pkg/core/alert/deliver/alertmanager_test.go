package deliver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
)

// alertmanagerStandIn is a real HTTP stand-in for Alertmanager's v2 alerts
// API: it keeps alerts by label set as Alertmanager does (a later post of the
// same label set replaces the earlier), answers GET with the alerts still
// active, honouring equality filters, and can be switched to fail.
type alertmanagerStandIn struct {
	mu     sync.Mutex
	mode   string // up, 500, 400, get404
	posts  [][]alert.AlertmanagerAlert
	alerts map[string]alert.AlertmanagerAlert
	now    func() time.Time
	srv    *httptest.Server
}

func newAlertmanagerStandIn(t *testing.T, now func() time.Time) *alertmanagerStandIn {
	a := &alertmanagerStandIn{mode: "up", alerts: map[string]alert.AlertmanagerAlert{}, now: now}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *alertmanagerStandIn) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.mode == "500":
		http.Error(w, `{"code":500,"message":"cluster not ready"}`, 500)
	case a.mode == "400" && r.Method == http.MethodPost:
		http.Error(w, `{"code":400,"message":"start time must be before end time"}`, 400)
	case r.URL.Path != "/api/v2/alerts":
		http.NotFound(w, r)
	case r.Method == http.MethodGet && a.mode == "get404":
		http.NotFound(w, r)
	case r.Method == http.MethodGet:
		want := map[string]string{}
		for _, f := range r.URL.Query()["filter"] {
			k, v, _ := strings.Cut(f, "=")
			uq, err := strconv.Unquote(v)
			if err != nil {
				http.Error(w, "bad matcher "+f, 400)
				return
			}
			want[k] = uq
		}
		out := []alert.AlertmanagerAlert{}
	next:
		for _, x := range a.alerts {
			for k, v := range want {
				if x.Labels[k] != v {
					continue next
				}
			}
			if x.EndsAt.After(a.now()) {
				out = append(out, x)
			}
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPost:
		var in []alert.AlertmanagerAlert
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in) == 0 {
			http.Error(w, "bad body", 400)
			return
		}
		for _, x := range in {
			if x.StartsAt.IsZero() || x.EndsAt.Before(x.StartsAt) || x.Labels["alertname"] == "" {
				http.Error(w, "invalid alert", 400)
				return
			}
		}
		a.posts = append(a.posts, in)
		for _, x := range in {
			a.alerts[fingerprint(x.Labels)] = x
		}
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

func fingerprint(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k+"="+l[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (a *alertmanagerStandIn) set(m string) { a.mu.Lock(); a.mode = m; a.mu.Unlock() }

// active returns the severities of check's active alerts.
func (a *alertmanagerStandIn) active(check string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, x := range a.alerts {
		if x.Labels["alertname"] == check && x.EndsAt.After(a.now()) {
			out = append(out, x.Labels["severity"])
		}
	}
	sort.Strings(out)
	return out
}

func (a *alertmanagerStandIn) allPosts() [][]alert.AlertmanagerAlert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([][]alert.AlertmanagerAlert(nil), a.posts...)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newTestAlertmanager(t *testing.T) (*Alertmanager, *alertmanagerStandIn, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 4, 21, 3, 0, 0, 0, time.UTC)}
	stand := newAlertmanagerStandIn(t, clock.Now)
	am := NewAlertmanager(stand.srv.URL, "council-1.lan", NewRetryClient())
	am.Client.RetryMax = 0
	am.Now = clock.Now
	am.Hold = func(check string) time.Duration { return 30*time.Minute + 3*30*time.Second }
	return am, stand, clock
}

func TestAlertmanagerFiringEscalationAndRecovery(t *testing.T) {
	am, stand, clock := newTestAlertmanager(t)
	ctx := context.Background()
	e := alert.NewEngine("guardian", nil, alert.Policy{Threshold: 1, Cooldown: 30 * time.Minute})
	e.Now = clock.Now

	deliver := func(n *alert.Notice) Receipt {
		t.Helper()
		if n == nil {
			t.Fatal("engine produced no notice")
		}
		r, err := am.Deliver(ctx, *n)
		if err != nil {
			t.Fatalf("deliver %+v: %v", n, err)
		}
		return r
	}

	started := clock.Now()
	if r := deliver(e.Fail("unreachable", alert.Warn, "connect: connection refused")); r.Status != "firing" || r.HTTPStatus != 200 {
		t.Errorf("receipt %+v", r)
	}
	posts := stand.allPosts()
	if len(posts) != 1 || len(posts[0]) != 1 {
		t.Fatalf("want one post of one alert, got %+v", posts)
	}
	got := posts[0][0]
	wantLabels := map[string]string{"alertname": "unreachable", "probe": "guardian", "severity": "warn", "instance": "council-1.lan"}
	if fingerprint(got.Labels) != fingerprint(wantLabels) {
		t.Errorf("labels %v, want %v", got.Labels, wantLabels)
	}
	if got.Annotations["summary"] != "council-guardian: unreachable" || got.Annotations["description"] != "connect: connection refused" {
		t.Errorf("annotations %v", got.Annotations)
	}
	if !got.StartsAt.Equal(started) || !got.EndsAt.Equal(started.Add(30*time.Minute+90*time.Second)) {
		t.Errorf("startsAt %v endsAt %v: want the episode start and now + hold", got.StartsAt, got.EndsAt)
	}

	// Still active past Alertmanager's default 5 min resolve_timeout.
	clock.Advance(10 * time.Minute)
	if sev := stand.active("unreachable"); len(sev) != 1 {
		t.Fatalf("alert lapsed inside the cooldown: active %v", sev)
	}

	// Escalation alerts at once, as a second label set.
	deliver(e.Fail("unreachable", alert.Error, "connect: connection refused (3 in a row)"))
	if sev := stand.active("unreachable"); strings.Join(sev, ",") != "error,warn" {
		t.Fatalf("active after escalation %v", sev)
	}

	clock.Advance(time.Minute)
	if r := deliver(e.Pass("unreachable")); r.Status != "resolved" {
		t.Errorf("receipt %+v", r)
	}
	if sev := stand.active("unreachable"); len(sev) != 0 {
		t.Fatalf("still active after recovery: %v", sev)
	}
	last := stand.allPosts()[len(stand.allPosts())-1]
	if len(last) != 2 {
		t.Fatalf("recovery should resolve exactly the two active label sets, posted %+v", last)
	}
	for _, x := range last {
		if !x.EndsAt.Equal(clock.Now()) || !x.StartsAt.Equal(started) {
			t.Errorf("resolved alert %+v: want startsAt %v endsAt %v", x, started, clock.Now())
		}
		if x.Labels["severity"] == "info" {
			t.Errorf("recovery posted an info alert instead of resolving the firing one: %+v", x)
		}
	}
}

func TestAlertmanagerRecoveryWhenListingRefused(t *testing.T) {
	am, stand, clock := newTestAlertmanager(t)
	n := alert.Notice{Probe: "canary", Check: "answer", Severity: alert.Error, Title: "council-canary: answer", Message: "wrong answer", StartsAt: clock.Now(), At: clock.Now()}
	if _, err := am.Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	stand.set("get404")
	clock.Advance(time.Minute)
	rec := alert.Notice{Probe: "canary", Check: "answer", Severity: alert.Info, Resolved: true, Title: "council-canary: answer recovered", Message: "ok again", StartsAt: n.StartsAt, At: clock.Now()}
	if _, err := am.Deliver(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if sev := stand.active("answer"); len(sev) != 0 {
		t.Fatalf("still active: %v", sev)
	}
	posts := stand.allPosts()
	if len(posts[len(posts)-1]) != 4 {
		t.Errorf("fallback should resolve the channel at all four severities, posted %+v", posts[len(posts)-1])
	}
}

func TestAlertmanagerRecoveryWithNothingActive(t *testing.T) {
	am, stand, clock := newTestAlertmanager(t)
	rec := alert.Notice{Probe: "canary", Check: "answer", Severity: alert.Info, Resolved: true, Title: "t", Message: "m", StartsAt: clock.Now(), At: clock.Now()}
	r, err := am.Deliver(context.Background(), rec)
	if err != nil || len(stand.allPosts()) != 0 || !strings.Contains(r.Status, "none active") {
		t.Fatalf("receipt %+v err %v posts %v", r, err, stand.allPosts())
	}
}

func TestAlertmanagerErrorClassification(t *testing.T) {
	n := alert.Notice{Probe: "drift", Check: "binary", Severity: alert.Critical, Title: "council-drift: binary", Message: "sha mismatch", At: time.Now()}
	tests := []struct {
		name      string
		mode      string
		resolved  bool
		wantErr   bool
		permanent bool
	}{
		{"delivered", "up", false, false, false},
		{"5xx is retryable", "500", false, true, false},
		{"4xx is rejected", "400", false, true, true},
		{"down is retryable", "down", false, true, false},
		{"recovery with 5xx listing is retryable", "500", true, true, false},
		{"recovery with server down is retryable", "down", true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			am, stand, _ := newTestAlertmanager(t)
			if tt.mode == "down" {
				stand.srv.Close()
			} else {
				stand.set(tt.mode)
			}
			m := n
			m.Resolved = tt.resolved
			_, err := am.Deliver(context.Background(), m)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if errors.Is(err, ErrRejected) != tt.permanent {
					t.Errorf("errors.Is(err, ErrRejected) = %v, want %v: %v", !tt.permanent, tt.permanent, err)
				}
				if !strings.Contains(err.Error(), "alertmanager") || !strings.Contains(err.Error(), "/api/v2/alerts") {
					t.Errorf("error does not name the sink and URL: %v", err)
				}
			}
		})
	}
}

func TestAlertmanagerEndpoint(t *testing.T) {
	for _, in := range []string{"http://am:9093", "http://am:9093/", "http://am:9093/api/v2/alerts", "http://am:9093/api/v2/alerts/"} {
		t.Run(in, func(t *testing.T) {
			if got := (&Alertmanager{URL: in}).endpoint(); got != "http://am:9093/api/v2/alerts" {
				t.Errorf("endpoint %q", got)
			}
		})
	}
}

func TestAlertmanagerDryRunSendsNothing(t *testing.T) {
	am, stand, clock := newTestAlertmanager(t)
	n := alert.Notice{Probe: "guardian", Check: "unreachable", Severity: alert.Error, Title: "council-guardian: unreachable", Message: "down", At: clock.Now()}
	s := am.DryRun(n)
	if !strings.HasPrefix(s, "POST "+stand.srv.URL+"/api/v2/alerts [") || !strings.Contains(s, `"alertname":"unreachable"`) {
		t.Errorf("dry run %q", s)
	}
	n.Resolved = true
	if s := am.DryRun(n); !strings.HasPrefix(s, "GET ") || !strings.Contains(s, "filter=alertname") {
		t.Errorf("dry run %q", s)
	}
	if len(stand.allPosts()) != 0 {
		t.Error("dry run sent")
	}
}

func TestAlertmanagerDefaultInstanceIsHostname(t *testing.T) {
	am := NewAlertmanager("http://am:9093", "", nil)
	if am.Instance == "" {
		t.Error("empty instance label")
	}
}
