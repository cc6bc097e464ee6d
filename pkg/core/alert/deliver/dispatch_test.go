package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
)

// forceFlow is a real HTTP stand-in for the notification hub whose
// behaviour the test switches: up, down (listener closed), 500, 400, hang.
type forceFlow struct {
	mu       sync.Mutex
	mode     string
	received []alert.ForceFlowPayload
	srv      *httptest.Server
}

func newForceFlow(t *testing.T) *forceFlow {
	f := &forceFlow{mode: "up"}
	done := make(chan struct{})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		mode := f.mode
		f.mu.Unlock()
		switch mode {
		case "500":
			http.Error(w, `{"error":"boom"}`, 500)
			return
		case "429":
			http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
			return
		case "400":
			http.Error(w, `{"error":"severity must be one of info|warn|error|critical"}`, 400)
			return
		case "hang":
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		if r.URL.Path != "/notify" || r.Method != http.MethodPost {
			http.Error(w, "not found", 404)
			return
		}
		var p alert.ForceFlowPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
		f.mu.Lock()
		f.received = append(f.received, p)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"sent","channels":["ntfy"],"deduplicated":false,"rate_limited":false,"quiet_hours":false}`)
	}))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: release hung handlers
	return f
}

func (f *forceFlow) set(mode string) { f.mu.Lock(); f.mode = mode; f.mu.Unlock() }
func (f *forceFlow) got() []alert.ForceFlowPayload {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]alert.ForceFlowPayload(nil), f.received...)
}
func (f *forceFlow) url() string { return f.srv.URL + "/notify" }

type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}
func (l *logCapture) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

func newDispatcher(t *testing.T, url, outboxPath string, max int) (*Dispatcher, *logCapture) {
	t.Helper()
	ob, err := alert.LoadOutbox(outboxPath, max)
	if err != nil {
		t.Fatal(err)
	}
	var lc logCapture
	return &Dispatcher{
		ProbeName: "guardian",
		Sinks:     []Sink{NewForceFlow(url, NewRetryClient())},
		Outbox:    ob,
		Log:       slog.New(slog.NewJSONHandler(&lc, nil)),
	}, &lc
}

func notice(i int) alert.Notice {
	return alert.Notice{Probe: "guardian", Check: "unreachable", Severity: alert.Error,
		Title: "council-guardian: unreachable", Message: "attempt " + string(rune('a'+i)), At: time.Now()}
}

func TestDeliverPayload(t *testing.T) {
	ff := newForceFlow(t)
	d, logs := newDispatcher(t, ff.url(), filepath.Join(t.TempDir(), "outbox.json"), 0)
	if err := d.Send(context.Background(), notice(0)); err != nil {
		t.Fatal(err)
	}
	got := ff.got()
	if len(got) != 1 {
		t.Fatalf("received %d, want 1", len(got))
	}
	want := alert.ForceFlowPayload{Source: "council-guardian", Severity: alert.Error, Title: "council-guardian: unreachable", Message: "attempt a"}
	if got[0].Source != want.Source || got[0].Severity != want.Severity || got[0].Title != want.Title || got[0].Message != want.Message {
		t.Fatalf("payload %+v, want %+v", got[0], want)
	}
	if !strings.Contains(logs.String(), `"msg":"alert_sent"`) || !strings.Contains(logs.String(), `"status":"sent"`) {
		t.Fatalf("alert_sent with the receipt not logged: %s", logs)
	}
}

// Each way the notifier can fail: what happens to the notice.
func TestNotifierFaults(t *testing.T) {
	tests := []struct {
		name        string
		mode        string
		wantSpooled int
		wantDropped int
		wantEvent   string
	}{
		{"down", "down", 1, 0, "alert_spooled"},
		{"500", "500", 1, 0, "alert_spooled"},
		{"hang", "hang", 1, 0, "alert_spooled"},
		{"400 is dropped with its reason", "400", 0, 1, "alert_rejected"},
		{"429 is kept for later, not dropped", "429", 1, 0, "alert_spooled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ff := newForceFlow(t)
			url := ff.url()
			if tt.mode == "down" {
				ff.srv.Close()
			} else {
				ff.set(tt.mode)
			}
			path := filepath.Join(t.TempDir(), "outbox.json")
			d, logs := newDispatcher(t, url, path, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := d.Send(ctx, notice(0)); err != nil {
				t.Fatal(err)
			}
			if d.Spooled != tt.wantSpooled || d.Dropped != tt.wantDropped {
				t.Fatalf("spooled=%d dropped=%d, want %d/%d", d.Spooled, d.Dropped, tt.wantSpooled, tt.wantDropped)
			}
			if !strings.Contains(logs.String(), tt.wantEvent) {
				t.Fatalf("no %s event: %s", tt.wantEvent, logs)
			}
			re, err := alert.LoadOutbox(path, 0)
			if err != nil {
				t.Fatal(err)
			}
			if re.Len() != tt.wantSpooled {
				t.Fatalf("outbox on disk has %d entries, want %d", re.Len(), tt.wantSpooled)
			}
			if tt.mode == "400" && !strings.Contains(logs.String(), "severity must be one of") {
				t.Fatalf("the 4xx reason was not logged: %s", logs)
			}
		})
	}
}

// The outbox survives a process restart (a fresh Dispatcher loading the
// file) and delivers everything oldest first, with nothing lost or repeated.
func TestOutboxSurvivesRestartInOrder(t *testing.T) {
	ff := newForceFlow(t)
	ff.set("500")
	path := filepath.Join(t.TempDir(), "outbox.json")
	ctx := context.Background()

	for tick := 0; tick < 3; tick++ { // three ticks while Force Flow is broken
		d, _ := newDispatcher(t, ff.url(), path, 0)
		if err := d.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := d.Send(ctx, notice(tick)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(ff.got()); n != 0 {
		t.Fatalf("a 500 counted as delivered %d times", n)
	}

	ff.set("up")
	d, _ := newDispatcher(t, ff.url(), path, 0) // the "restarted" process
	if d.Outbox.Len() != 3 {
		t.Fatalf("outbox after restart has %d, want 3", d.Outbox.Len())
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(ctx, notice(3)); err != nil {
		t.Fatal(err)
	}
	got := ff.got()
	var order []string
	for _, p := range got {
		order = append(order, p.Message)
	}
	want := []string{"attempt a", "attempt b", "attempt c", "attempt d"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("delivered %v, want %v", order, want)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("drained outbox file still present: %v", err)
	}
	// Another flush must not repeat anything.
	d2, _ := newDispatcher(t, ff.url(), path, 0)
	d2.Flush(ctx)
	if len(ff.got()) != 4 {
		t.Fatalf("duplicates after a second flush: %d", len(ff.got()))
	}
}

// New notices queue behind undelivered ones even when the notifier comes
// back mid-tick, so the order an operator reads is the order things happened.
func TestNewNoticeQueuesBehindPending(t *testing.T) {
	ff := newForceFlow(t)
	ff.set("500")
	path := filepath.Join(t.TempDir(), "outbox.json")
	d, _ := newDispatcher(t, ff.url(), path, 0)
	ctx := context.Background()
	d.Send(ctx, notice(0))
	ff.set("up")
	d.Send(ctx, notice(1)) // must not overtake notice 0
	if len(ff.got()) != 0 {
		t.Fatalf("a newer notice overtook the outbox: %v", ff.got())
	}
	d.Flush(ctx)
	got := ff.got()
	if len(got) != 2 || got[0].Message != "attempt a" {
		t.Fatalf("got %v", got)
	}
}

func TestOutboxOverflowIsCountedAndReported(t *testing.T) {
	ff := newForceFlow(t)
	ff.set("500")
	path := filepath.Join(t.TempDir(), "outbox.json")
	d, logs := newDispatcher(t, ff.url(), path, 2)
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		d.Send(ctx, notice(i))
	}
	if d.Outbox.Len() != 2 || d.Outbox.Overflowed != 2 {
		t.Fatalf("len=%d overflowed=%d, want 2/2", d.Outbox.Len(), d.Outbox.Overflowed)
	}
	if strings.Count(logs.String(), `"msg":"alert_dropped"`) != 2 {
		t.Fatalf("each overflow must be logged: %s", logs)
	}
	ff.set("up")
	d2, _ := newDispatcher(t, ff.url(), path, 2)
	if err := d2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := ff.got()
	if len(got) != 3 {
		t.Fatalf("got %d deliveries, want the 2 kept + 1 overflow report", len(got))
	}
	if got[0].Message != "attempt c" || got[1].Message != "attempt d" {
		t.Fatalf("kept the wrong notices: %v", got)
	}
	if !strings.Contains(got[2].Message, "2 alert(s) were dropped") || got[2].Title != "council-guardian: outbox_overflow" {
		t.Fatalf("overflow report wrong: %+v", got[2])
	}
}

func TestCorruptOutboxIsKeptAndReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.json")
	os.WriteFile(path, []byte(`{"entries":[{"id":1,`), 0o600)
	ob, err := alert.LoadOutbox(path, 0)
	if !errors.Is(err, alert.ErrOutboxCorrupt) {
		t.Fatalf("got %v, want ErrOutboxCorrupt", err)
	}
	if ob == nil || ob.Len() != 0 {
		t.Fatal("a corrupt outbox must yield an empty usable one")
	}
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Fatalf("corrupt file not kept for the operator: %v", err)
	}
}

func TestDryRunPrintsRequestAndSendsNothing(t *testing.T) {
	ff := newForceFlow(t)
	d, _ := newDispatcher(t, ff.url(), filepath.Join(t.TempDir(), "o.json"), 0)
	var out bytes.Buffer
	d.DryRun, d.DryRunOut = true, &out
	d.Send(context.Background(), notice(0))
	if len(ff.got()) != 0 {
		t.Fatal("dry-run delivered an alert")
	}
	want := `POST ` + ff.url() + ` {"source":"council-guardian","severity":"error","title":"council-guardian: unreachable","message":"attempt a"}`
	if !strings.Contains(out.String(), want) {
		t.Fatalf("dry-run output %q does not show %q", out.String(), want)
	}
}

func TestLocalNotifyOnlyWhenUndeliverableAndUrgent(t *testing.T) {
	ff := newForceFlow(t)
	ff.set("500")
	d, _ := newDispatcher(t, ff.url(), filepath.Join(t.TempDir(), "o.json"), 0)
	var raised []string
	d.LocalNotify = func(ctx context.Context, n alert.Notice) error {
		raised = append(raised, string(n.Severity))
		return nil
	}
	ctx := context.Background()
	n := notice(0)
	d.Send(ctx, n)
	n.Severity = alert.Warn
	d.Send(ctx, n)
	if strings.Join(raised, ",") != "error" {
		t.Fatalf("local notifications %v, want just the error one", raised)
	}
}

// A notice that can neither be delivered nor saved is reported, and Unsent
// lets the channel alert again next tick instead of waiting out a cooldown
// for an alert nobody received.
func TestUnsavableSpoolIsReportedAndRetried(t *testing.T) {
	ff := newForceFlow(t)
	ff.set("500")
	parent := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(parent, []byte("x"), 0o600)
	d, _ := newDispatcher(t, ff.url(), filepath.Join(t.TempDir(), "outbox.json"), 0)
	d.Outbox = alert.NewOutbox(filepath.Join(parent, "outbox.json"), 0) // the disk turned against us: cannot be created
	e := alert.NewEngine("guardian", nil, alert.Policy{Threshold: 1, Cooldown: time.Hour})
	n := e.Fail("unreachable", alert.Error, "refused")
	if n == nil {
		t.Fatal("no notice")
	}
	err := d.Send(context.Background(), *n)
	if !errors.Is(err, ErrNotSaved) {
		t.Fatalf("got %v, want ErrNotSaved", err)
	}
	if e.Fail("unreachable", alert.Error, "refused") != nil {
		t.Fatal("the cooldown should hold a second alert while bookkeeping says it was sent")
	}
	e.Unsent(*n)
	if e.Fail("unreachable", alert.Error, "refused") == nil {
		t.Fatal("after Unsent the next failure must alert again")
	}

	// Delivered directly: an unwritable outbox loses nothing, so no error.
	ff.set("up")
	d.Outbox.Entries = nil // nothing queued ahead of it
	if err := d.Send(context.Background(), *n); err != nil {
		t.Fatalf("delivered notice reported as lost: %v", err)
	}
}

// Entries kept for a sink that is no longer configured do not hold back the
// overflow report once the configured sink has drained.
func TestOverflowReportedDespiteOrphanedEntries(t *testing.T) {
	ff := newForceFlow(t)
	path := filepath.Join(t.TempDir(), "outbox.json")
	d, _ := newDispatcher(t, ff.url(), path, 5)
	d.Outbox.Add("alertmanager", notice(0), time.Now(), "down") // its sink was removed from the config
	d.Outbox.Overflowed = 3
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := ff.got()
	if len(got) != 1 || !strings.Contains(got[0].Message, "3 alert(s) were dropped") {
		t.Fatalf("overflow not reported: %+v", got)
	}
	if d.Outbox.Len() != 1 || d.Outbox.Overflowed != 0 {
		t.Fatalf("orphaned entry lost or overflow not reset: len=%d overflowed=%d", d.Outbox.Len(), d.Outbox.Overflowed)
	}
}
