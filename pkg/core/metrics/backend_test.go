package metrics

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The backend series carry the server's own values, labelled by backend,
// and are absent (not 0) when the server does not export them.
func TestBackendSeriesAbsentIsNotZero(t *testing.T) {
	running, kv := 3.0, 0.0
	s := Snapshot{Probe: "guardian", Success: true, LastRun: time.Unix(1764687600, 0), Checks: map[string]int{"unreachable": 0},
		Backend: "llama-server", BackendRunning: &running, BackendKVRatio: &kv}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(Render(s)))
	if err != nil {
		t.Fatalf("does not parse: %v\n%s", err, Render(s))
	}
	r := fams["council_backend_requests_running"]
	if r == nil || len(r.Metric) != 1 || r.Metric[0].GetGauge().GetValue() != 3 {
		t.Fatalf("running = %v", r)
	}
	labels := map[string]string{}
	for _, l := range r.Metric[0].Label {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["backend"] != "llama-server" || labels["probe"] != "guardian" {
		t.Errorf("labels = %v", labels)
	}
	if _, ok := fams["council_backend_requests_waiting"]; ok {
		t.Error("waiting was not exported but is rendered")
	}
	if k := fams["council_backend_kv_cache_usage_ratio"]; k == nil || k.Metric[0].GetGauge().GetValue() != 0 {
		t.Errorf("an exported 0 must stay 0: %v", k)
	}
	if _, ok := fams["council_backend_requests_running"]; !ok {
		t.Fatal("running missing")
	}
	none := Render(Snapshot{Probe: "canary", Success: true, LastRun: time.Unix(1764687600, 0)})
	if bytes.Contains(none, []byte("council_backend_")) {
		t.Errorf("backend series without values:\n%s", none)
	}
}
