package metrics

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestWriteParsesWithExpfmt(t *testing.T) {
	dir := t.TempDir()
	snaps := []Snapshot{
		{Probe: "guardian", Success: false, Duration: 1500 * time.Millisecond,
			Checks:  map[string]int{"unreachable": CheckFailing, "cert_expiry": CheckOK},
			LastRun: time.Unix(1795000000, 0), OutboxDepth: 2, Restarts: 3, FallbackActive: true, FallbackKnown: true, Interval: 30 * time.Second},
		{Probe: "parity-smoke", Success: true, Checks: map[string]int{"parity": CheckOK}, LastRun: time.Unix(1795000000, 0), Restarts: -1},
	}
	helps := map[string]string{}
	for _, s := range snaps {
		if err := Write(dir, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"council_guardian.prom", "council_parity_smoke.prom"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s does not parse: %v\n%s", name, err, data)
		}
		for fname, f := range fams {
			if prev, ok := helps[fname]; ok && prev != f.GetHelp() {
				t.Errorf("%s: HELP differs between files", fname)
			}
			helps[fname] = f.GetHelp()
			for _, m := range f.Metric {
				if m.TimestampMs != nil {
					t.Errorf("%s has a sample timestamp; the textfile collector forbids them", fname)
				}
			}
		}
		if name == "council_guardian.prom" {
			cs := fams["council_check_status"]
			if cs == nil || len(cs.Metric) != 2 {
				t.Fatalf("check status series wrong: %v", cs)
			}
			if fams["council_restarts_total"].GetType().String() != "COUNTER" {
				t.Error("restarts must be a counter")
			}
			if v := fams["council_fallback_active"].Metric[0].GetGauge().GetValue(); v != 1 {
				t.Errorf("fallback_active = %v", v)
			}
			if v := fams["council_probe_interval_seconds"].Metric[0].GetGauge().GetValue(); v != 30 {
				t.Errorf("interval = %v", v)
			}
			if v := fams["council_probe_duration_seconds"].Metric[0].GetGauge().GetValue(); v != 1.5 {
				t.Errorf("duration = %v", v)
			}
		} else {
			if _, ok := fams["council_restarts_total"]; ok {
				t.Error("restarts written for a probe that does not restart")
			}
			if _, ok := fams["council_fallback_active"]; ok {
				t.Error("fallback_active written by a probe that does not know the fallback lock")
			}
		}
	}
	_ = model.LabelName("probe")
}

// TestGaugesParse: a probe's own gauges are written one family per name,
// even when samples of two names interleave, each sample with the probe
// label first, and the file still parses.
func TestGaugesParse(t *testing.T) {
	s := Snapshot{Probe: "pace", Success: true, LastRun: time.Unix(1795000000, 0), Restarts: -1, Gauges: []Gauge{
		{Name: "council_pace_ttft_seconds", Help: "Time to first token.", Labels: []string{"model", "m1"}, Value: 0.41},
		{Name: "council_pace_ttft_ratio", Help: "TTFT over its baseline.", Labels: []string{"model", "m1"}, Value: 1.1},
		{Name: "council_pace_ttft_seconds", Help: "Time to first token.", Labels: []string{"model", `m"2`}, Value: 0.5},
	}}
	data := Render(s)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("does not parse: %v\n%s", err, data)
	}
	ttft := fams["council_pace_ttft_seconds"]
	if ttft == nil || len(ttft.Metric) != 2 || ttft.GetType().String() != "GAUGE" {
		t.Fatalf("ttft family %v\n%s", ttft, data)
	}
	if got := ttft.Metric[1].GetLabel(); len(got) != 2 || got[0].GetValue() != "pace" || got[1].GetValue() != `m"2` {
		t.Errorf("labels %v", got)
	}
	if fams["council_pace_ttft_ratio"].Metric[0].GetGauge().GetValue() != 1.1 {
		t.Errorf("ratio family wrong:\n%s", data)
	}
}
