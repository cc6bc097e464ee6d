package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sanctum/council-probes/pkg/core/alert"
)

// amStandIn is a real HTTP stand-in for Alertmanager's v2 alerts API: it
// records every POST, keeps alerts by label set and answers GET with the
// active ones matching the equality filters. Mode "500" makes it fail.
type amStandIn struct {
	mu     sync.Mutex
	mode   string
	posts  []alert.AlertmanagerAlert
	alerts map[string]alert.AlertmanagerAlert
	srv    *httptest.Server
}

func newAMStandIn(t *testing.T) *amStandIn {
	a := &amStandIn{mode: "up", alerts: map[string]alert.AlertmanagerAlert{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.mode == "500" {
			http.Error(w, "unavailable", 500)
			return
		}
		if r.URL.Path != "/api/v2/alerts" {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodGet {
			out := []alert.AlertmanagerAlert{}
		next:
			for _, x := range a.alerts {
				for _, f := range r.URL.Query()["filter"] {
					k, v, _ := strings.Cut(f, "=")
					if uq, _ := strconv.Unquote(v); x.Labels[k] != uq {
						continue next
					}
				}
				if x.EndsAt.After(time.Now()) {
					out = append(out, x)
				}
			}
			json.NewEncoder(w).Encode(out)
			return
		}
		var in []alert.AlertmanagerAlert
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, "bad body", 400)
			return
		}
		for _, x := range in {
			a.posts = append(a.posts, x)
			keys := []string{}
			for k, v := range x.Labels {
				keys = append(keys, k+"="+v)
			}
			sort.Strings(keys)
			a.alerts[strings.Join(keys, ",")] = x
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *amStandIn) set(m string) { a.mu.Lock(); a.mode = m; a.mu.Unlock() }

func (a *amStandIn) received() []alert.AlertmanagerAlert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]alert.AlertmanagerAlert(nil), a.posts...)
}

func (a *amStandIn) activeCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, x := range a.alerts {
		if x.EndsAt.After(time.Now()) {
			n++
		}
	}
	return n
}

func TestAlertmanagerFiringThenResolvedThroughRun(t *testing.T) {
	e := newEnv(t)
	os.Unsetenv("COUNCIL_ALERTMANAGER_URL")
	am := newAMStandIn(t)
	args := func(outcome string) []string {
		return []string{"--alertmanager-url", am.srv.URL, "--instance", "council-7.lan", "--outcome", outcome}
	}
	for i := 0; i < 2; i++ { // threshold 2
		if code, out := e.run(t, testProbe(false), args("error")...); code != ExitCritical {
			t.Fatalf("exit %d: %s", code, out)
		}
	}
	got := am.received()
	if len(got) != 1 {
		t.Fatalf("alertmanager got %d alerts, want 1 firing: %+v", len(got), got)
	}
	want := map[string]string{"alertname": "answer", "probe": "testprobe", "severity": "error", "instance": "council-7.lan"}
	for k, v := range want {
		if got[0].Labels[k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, got[0].Labels[k], v, got[0].Labels)
		}
	}
	if got[0].Annotations["description"] != "wrong answer 5" {
		t.Errorf("annotations %v", got[0].Annotations)
	}
	// Hold = cooldown (30m) + 3 x interval (30s): well past resolve_timeout.
	if left := time.Until(got[0].EndsAt); left < 25*time.Minute || left > 32*time.Minute {
		t.Errorf("endsAt %v is %v away, want about 31m30s", got[0].EndsAt, left)
	}
	if n := len(e.ff.payloads()); n != 1 {
		t.Errorf("force flow got %d alerts, want 1: both sinks are on", n)
	}

	if code, out := e.run(t, testProbe(false), args("ok")...); code != ExitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	got = am.received()
	if len(got) != 2 || got[1].Labels["severity"] != "error" || !got[1].EndsAt.Before(time.Now().Add(time.Second)) {
		t.Fatalf("want the firing alert resolved (same labels, endsAt now), got %+v", got)
	}
	if am.activeCount() != 0 {
		t.Error("alert still active in alertmanager after recovery")
	}
	if find(e.events(t), "alert_sent") == nil {
		t.Error("no alert_sent event")
	}
}

func TestAlertmanagerDownSpoolsAndDeliversLater(t *testing.T) {
	e := newEnv(t)
	am := newAMStandIn(t)
	am.set("500")
	args := func(outcome string) []string {
		return []string{"--alertmanager-url", am.srv.URL, "--instance", "council-7.lan", "--outcome", outcome}
	}
	for i := 0; i < 2; i++ {
		e.run(t, testProbe(false), args("error")...)
	}
	ob, err := alert.LoadOutbox(filepath.Join(e.stateDir, "council-testprobe.outbox.json"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ob.Len() != 1 || ob.Entries[0].Sink != "alertmanager" {
		t.Fatalf("outbox %+v, want one entry for alertmanager (force flow took it directly)", ob.Entries)
	}
	var spooled bool
	for _, ev := range e.events(t) {
		if ev["event"] == "alert_spooled" && ev["sink"] == "alertmanager" {
			spooled = true
		}
	}
	if !spooled {
		t.Error("no alert_spooled event for the alertmanager sink")
	}

	am.set("up")
	if code, out := e.run(t, testProbe(false), args("ok")...); code != ExitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	got := am.received()
	if len(got) != 2 {
		t.Fatalf("want the spooled firing alert then the resolution, got %+v", got)
	}
	if !got[0].EndsAt.After(time.Now()) || got[1].EndsAt.After(time.Now()) || got[0].Labels["severity"] != got[1].Labels["severity"] {
		t.Errorf("order or content wrong: firing %+v, resolved %+v", got[0], got[1])
	}
	if am.activeCount() != 0 {
		t.Error("alert still active after the outbox drained")
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "council-testprobe.outbox.json")); !os.IsNotExist(err) {
		t.Errorf("outbox not drained: %v", err)
	}
}

func TestAlertmanagerFlagsInHelp(t *testing.T) {
	e := newEnv(t)
	_, out := e.run(t, testProbe(false), "--help")
	for _, want := range []string{"--alertmanager-url", "$COUNCIL_ALERTMANAGER_URL", "--instance", "$COUNCIL_INSTANCE"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestMetricsFilesFromTicksAreConsistent writes textfile output from real
// ticks of differently named probes and checks the whole directory the way
// node_exporter will read it: every file parses, HELP and TYPE agree across
// files, no sample carries a timestamp, and every metric family is there.
func TestMetricsFilesFromTicksAreConsistent(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.home, "textfile")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ticks := []struct {
		name, outcome string
		restarts      int
		success       float64
	}{
		{"guardian", "error", 3, 0},
		{"canary", "ok", -1, 1},
		{"parity-smoke", "warn", -1, 0},
	}
	for _, tk := range ticks {
		p := testProbe(false)
		p.Name = tk.name
		// The guardian knows the launchd layout (and so the fallback lock).
		p.Layout = tk.name == "guardian"
		inner := p.Tick
		restarts := tk.restarts
		p.Tick = func(ctx context.Context, t *Tick) error {
			if restarts >= 0 {
				t.SetRestarts(restarts)
			}
			return inner(ctx, t)
		}
		e.run(t, p, "--metrics-dir", dir, "--log-file", filepath.Join(e.home, tk.name+".log"), "--outcome", tk.outcome)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.prom"))
	if len(files) != len(ticks) {
		t.Fatalf("metrics files %v", files)
	}
	type meta struct{ help, typ string }
	seen := map[string]meta{}
	byProbe := map[string]map[string]float64{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s does not parse: %v\n%s", f, err, data)
		}
		for name, fam := range fams {
			m := meta{fam.GetHelp(), fam.GetType().String()}
			if prev, ok := seen[name]; ok && prev != m {
				t.Errorf("%s: HELP/TYPE differ across files: %v vs %v", name, prev, m)
			}
			seen[name] = m
			for _, s := range fam.Metric {
				if s.TimestampMs != nil {
					t.Errorf("%s in %s has a timestamp", name, f)
				}
				labels := map[string]string{}
				for _, l := range s.Label {
					labels[l.GetName()] = l.GetValue()
				}
				key := name
				if c := labels["check"]; c != "" {
					key += "/" + c
				}
				v := s.GetGauge().GetValue() + s.GetCounter().GetValue()
				if byProbe[labels["probe"]] == nil {
					byProbe[labels["probe"]] = map[string]float64{}
				}
				byProbe[labels["probe"]][key] = v
			}
		}
	}
	for _, want := range []string{"council_probe_success", "council_probe_duration_seconds", "council_check_status",
		"council_probe_last_run_timestamp_seconds", "council_alert_outbox_depth", "council_restarts_total", "council_fallback_active"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("no %s in any file", want)
		}
	}
	for _, tk := range ticks {
		got := byProbe[tk.name]
		if got["council_probe_success"] != tk.success {
			t.Errorf("%s: success %v, want %v", tk.name, got["council_probe_success"], tk.success)
		}
		if since := time.Since(time.Unix(int64(got["council_probe_last_run_timestamp_seconds"]), 0)); since < 0 || since > time.Minute {
			t.Errorf("%s: last run %v ago", tk.name, since)
		}
		if _, has := got["council_restarts_total"]; has != (tk.restarts >= 0) {
			t.Errorf("%s: restarts series present = %v", tk.name, has)
		}
	}
	if byProbe["guardian"]["council_check_status/answer"] != 1 || byProbe["canary"]["council_check_status/answer"] != 0 {
		t.Errorf("check status wrong: %v", byProbe)
	}
}
