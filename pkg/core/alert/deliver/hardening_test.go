package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/testkit/forceflowsim"
)

// simFF is the Force Flow stand-in (pkg/testkit/forceflowsim) on loopback.
func simFF(t *testing.T) (*forceflowsim.Server, *httptest.Server) {
	s := forceflowsim.New()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	t.Cleanup(s.Release) // runs first: frees hung and delayed handlers
	return s, srv
}

func dispatcherFor(t *testing.T, url string) (*Dispatcher, *logCapture, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.json")
	ob, err := alert.LoadOutbox(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lc logCapture
	d := &Dispatcher{ProbeName: "guardian", Sinks: []Sink{NewForceFlow(url, NewRetryClient())}, Outbox: ob,
		Log: newTestLogger(&lc)}
	return d, &lc, path
}

// A password in --force-flow-url is never written: not in the outbox's
// last_error, not in an event.
func TestForceFlowURLPasswordIsNotWritten(t *testing.T) {
	const pw = "Tr0ub4dor-pw"
	for _, mode := range []string{"down", "500", forceflowsim.Mode400} {
		t.Run(mode, func(t *testing.T) {
			s, srv := simFF(t)
			u, _ := url.Parse(srv.URL + "/notify")
			u.User = url.UserPassword("ff", pw)
			if mode == "down" {
				srv.Close()
			} else {
				s.SetMode(mode)
			}
			d, logs, path := dispatcherFor(t, u.String())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := d.Send(ctx, notice(1)); err != nil {
				t.Fatal(err)
			}
			d.Flush(ctx)
			data, _ := os.ReadFile(path)
			for what, s := range map[string]string{"outbox": string(data), "events": logs.String()} {
				if strings.Contains(s, pw) {
					t.Errorf("the Force Flow password is in the %s:\n%s", what, s)
				}
			}
			if !strings.Contains(logs.String(), "ff:xxxxx@") {
				t.Errorf("the events should name the URL with its password masked:\n%s", logs)
			}
		})
	}
}

// A Force Flow that redirects is not followed: the alert stays in the
// outbox and the redirect's target receives nothing.
func TestForceFlowRedirectIsNotFollowed(t *testing.T) {
	s, srv := simFF(t)
	other, otherSrv := simFF(t)
	s.SetMode(forceflowsim.ModeRedirect)
	s.SetRedirect(otherSrv.URL + "/notify")
	d, logs, _ := dispatcherFor(t, srv.URL+"/notify")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d.Send(ctx, notice(1))
	if n := len(other.Alerts()); n != 0 {
		t.Fatalf("the redirect was followed: its target got %d alerts", n)
	}
	if d.Outbox.Len() != 1 || d.Spooled != 1 {
		t.Errorf("a redirect is not a delivery: outbox %d, spooled %d\n%s", d.Outbox.Len(), d.Spooled, logs)
	}
}

// The alert client ignores HTTP_PROXY and HTTPS_PROXY, like the council
// transport: a proxy could read or swallow alerts.
func TestRetryClientUsesNoProxy(t *testing.T) {
	c := NewRetryClient()
	tr, ok := c.HTTPClient.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", c.HTTPClient.Transport)
	}
	if tr.Proxy != nil {
		t.Error("the alert client takes its proxy from the environment")
	}
	if c.HTTPClient.CheckRedirect == nil {
		t.Error("the alert client follows redirects")
	}
}

// Only a 400 that names the payload invalid is a permanent refusal; every
// other refusal, and a 200 that is not a Force Flow receipt, is kept and
// retried.
func TestForceFlowRefusalsAreRetried(t *testing.T) {
	tests := []struct {
		mode      string
		permanent bool
	}{
		{forceflowsim.Mode400, true},
		{"401", false}, {"403", false}, {"404", false}, {"408", false}, {"413", false}, {"429", false},
		{forceflowsim.ModeHTML200, false}, {forceflowsim.ModeStatusError, false},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			s, srv := simFF(t)
			s.SetMode(tt.mode)
			ff := NewForceFlow(srv.URL+"/notify", NewRetryClient())
			_, err := ff.Deliver(context.Background(), notice(1))
			if err == nil {
				t.Fatalf("mode %s counted as delivered", tt.mode)
			}
			if errors.Is(err, ErrRejected) != tt.permanent {
				t.Errorf("mode %s: permanent = %v, want %v (%v)", tt.mode, !tt.permanent, tt.permanent, err)
			}
			if tt.permanent {
				return
			}
			d, _, _ := dispatcherFor(t, srv.URL+"/notify")
			d.Send(context.Background(), notice(1))
			if d.Outbox.Len() != 1 {
				t.Fatalf("mode %s: the alert was not kept for a retry", tt.mode)
			}
			s.SetMode(forceflowsim.ModeUp)
			if err := d.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(s.Alerts()) != 1 || d.Outbox.Len() != 0 {
				t.Errorf("mode %s: once Force Flow is fixed the alert arrives: got %d, outbox %d", tt.mode, len(s.Alerts()), d.Outbox.Len())
			}
		})
	}
}

// A Force Flow slower than a per-attempt timeout but inside the budget gets
// the alert once; a retry after a timeout (the first attempt did arrive)
// is recognised by its idempotency key and not delivered again.
func TestSlowForceFlowGetsOneAlert(t *testing.T) {
	s, srv := simFF(t)
	s.SetDelay(3300 * time.Millisecond)
	d, logs, _ := dispatcherFor(t, srv.URL+"/notify")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Send(ctx, notice(1)); err != nil {
		t.Fatal(err)
	}
	if d.Sent != 1 {
		t.Errorf("answered inside the budget, yet not delivered:\n%s", logs)
	}
	srv.Close() // waits for every request in flight to be accepted
	if n := len(s.Alerts()); n != 1 {
		t.Errorf("Force Flow got the alert %d times, want once", n)
	}
}

func TestRetryAfterTimeoutIsNotDuplicated(t *testing.T) {
	s, srv := simFF(t)
	s.SetDelay(time.Second)
	d, _, _ := dispatcherFor(t, srv.URL+"/notify")
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	d.Send(short, notice(1))
	if d.Outbox.Len() != 1 {
		t.Fatalf("a timed-out alert must be spooled")
	}
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if n, dup := len(s.Alerts()), s.Duplicates(); n != 1 || dup != 1 {
		t.Errorf("Force Flow accepted the alert %d times (%d recognised as repeats), want once (1 repeat)", n, dup)
	}
}

func newTestLogger(lc *logCapture) *slog.Logger { return slog.New(slog.NewJSONHandler(lc, nil)) }

// A flush writes the outbox once, after its deliveries, not once per
// delivered entry: with an outbox that cannot be written, every entry is
// still offered to Force Flow before the write fails.
func TestFlushWritesTheOutboxOnce(t *testing.T) {
	s, srv := simFF(t)
	d, _, _ := dispatcherFor(t, srv.URL+"/notify")
	parent := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(parent, []byte("x"), 0o600)
	d.Outbox = alert.NewOutbox(filepath.Join(parent, "outbox.json"), 0) // cannot be written
	for i := 0; i < 5; i++ {
		d.Outbox.Add("forceflow", notice(i), time.Now(), "down")
	}
	if err := d.Flush(context.Background()); err == nil {
		t.Fatal("an outbox that cannot be written must be reported")
	}
	if n := len(s.Alerts()); n != 5 {
		t.Errorf("Force Flow got %d of 5 before the outbox write: the outbox is written per entry", n)
	}
}

// A corrupt outbox is salvaged, and one alert says how many were lost.
func TestCorruptOutboxAlertsOnce(t *testing.T) {
	s, srv := simFF(t)
	path := filepath.Join(t.TempDir(), "outbox.json")
	o := alert.NewOutbox(path, 0)
	for i := 0; i < 4; i++ {
		o.Add("forceflow", notice(i), time.Now(), "down")
	}
	if err := o.Save(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:strings.Index(string(data), `"id": 3`)], 0o600) // two complete entries
	ob, err := alert.LoadOutbox(path, 0)
	if !errors.Is(err, alert.ErrOutboxCorrupt) {
		t.Fatalf("got %v", err)
	}
	var lc logCapture
	d := &Dispatcher{ProbeName: "guardian", Sinks: []Sink{NewForceFlow(srv.URL+"/notify", NewRetryClient())}, Outbox: ob, Log: newTestLogger(&lc)}
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var reports []string
	for _, a := range s.Alerts() {
		if strings.HasSuffix(a.Title, ": outbox_corrupt") {
			reports = append(reports, a.Message)
		}
	}
	if len(s.Alerts()) != 3 || len(reports) != 1 || !strings.Contains(reports[0], "2 undelivered alert(s)") {
		t.Fatalf("want the 2 salvaged alerts and one report of 2 lost; got %+v", s.Alerts())
	}
	d.Flush(context.Background())
	if len(s.Alerts()) != 3 {
		t.Errorf("the loss was reported again")
	}
}

// What a server echoed into a notice (a bearer credential, an sk- key) is
// masked in what every sink sends, Alertmanager's annotations included.
func TestSinksSendRedactedText(t *testing.T) {
	n := notice(1)
	n.Message = "wrong answer: Authorization: Bearer tok-Secret-123 and sk-abcdefghijklmnop"
	s, srv := simFF(t)
	if _, err := NewForceFlow(srv.URL+"/notify", NewRetryClient()).Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	am, stand, _ := newTestAlertmanager(t)
	if _, err := am.Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	sent := fmt.Sprint(s.Alerts(), stand.allPosts())
	for _, secret := range []string{"tok-Secret-123", "sk-abcdefghijklmnop"} {
		if strings.Contains(sent, secret) {
			t.Errorf("%s was sent: %s", secret, sent)
		}
	}
}
