// Package metrics writes a probe's tick as a node_exporter textfile-collector
// file (<dir>/council_<probe>.prom), so Prometheus can watch a fleet of
// council hosts. The file is replaced atomically and carries no sample
// timestamps, as the textfile collector requires. Every probe writes the same
// HELP and TYPE lines, so the files merge cleanly.
package metrics

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// Snapshot is what one tick reports.
type Snapshot struct {
	Probe    string
	Success  bool
	Duration time.Duration
	// Checks maps check name to status: 0 ok, 1 failing, 2 unknown.
	Checks      map[string]int
	LastRun     time.Time
	OutboxDepth int
	// Restarts is a monotonic count (guardian); -1 omits the series.
	Restarts       int
	FallbackActive bool
	// FallbackKnown says the probe knows where the fallback lock is (the
	// launchd-layout probes); without it the series is omitted rather than
	// reported as a misleading 0.
	FallbackKnown bool
	// Interval is the probe's schedule; 0 omits the series. With it one
	// generic staleness rule covers every probe.
	Interval time.Duration
	// Backend names the server behind the council URL; the Backend*
	// values are what that server reports about itself. nil omits the
	// series: a value the server does not export is absent, not 0.
	Backend                                        string
	BackendRunning, BackendWaiting, BackendKVRatio *float64
	// Gauges are the probe's own series (council_pace_ttft_seconds, …),
	// written after the common ones, one HELP/TYPE per name.
	Gauges []Gauge
}

// Gauge is one sample of a probe's own gauge. Labels are name, value pairs
// after the probe label.
type Gauge struct {
	Name, Help string
	Labels     []string
	Value      float64
}

// Check status values for council_check_status.
const (
	CheckOK      = 0
	CheckFailing = 1
	CheckUnknown = 2
)

type family struct{ name, help, typ string }

// Families lists every metric with its HELP and TYPE, in output order.
var Families = []family{
	{"council_probe_success", "Whether the probe's last tick found everything healthy (1) or not (0).", "gauge"},
	{"council_probe_duration_seconds", "How long the probe's last tick took.", "gauge"},
	{"council_check_status", "Status of each check in the last tick: 0 ok, 1 failing, 2 unknown.", "gauge"},
	{"council_probe_last_run_timestamp_seconds", "Unix time the probe's last tick completed.", "gauge"},
	{"council_alert_outbox_depth", "Alerts waiting in the probe's outbox for an unreachable notifier.", "gauge"},
	{"council_restarts_total", "Restarts of the primary performed by the probe.", "counter"},
	{"council_fallback_active", "Whether the fallback lock exists (1) or not (0).", "gauge"},
	{"council_probe_interval_seconds", "The probe's launchd interval; a last run older than 3x this is stale.", "gauge"},
	{"council_backend_requests_running", "Requests the server reports running (llama-server, vLLM /metrics).", "gauge"},
	{"council_backend_requests_waiting", "Requests the server reports waiting or deferred (llama-server, vLLM /metrics).", "gauge"},
	{"council_backend_kv_cache_usage_ratio", "KV-cache usage the server reports, 1 = full (vLLM; not current llama-server).", "gauge"},
}

// Render formats s in the Prometheus text exposition format.
func Render(s Snapshot) []byte {
	var b strings.Builder
	probe := `probe="` + escape(s.Probe) + `"`
	write := func(name string, labels string, v float64) {
		fmt.Fprintf(&b, "%s{%s} %s\n", name, labels, strconv.FormatFloat(v, 'g', -1, 64))
	}
	for _, f := range Families {
		if f.name == "council_restarts_total" && s.Restarts < 0 {
			continue
		}
		if f.name == "council_fallback_active" && !s.FallbackKnown {
			continue
		}
		if f.name == "council_probe_interval_seconds" && s.Interval <= 0 {
			continue
		}
		if f.name == "council_check_status" && len(s.Checks) == 0 {
			continue
		}
		backendValue := map[string]*float64{"council_backend_requests_running": s.BackendRunning,
			"council_backend_requests_waiting": s.BackendWaiting, "council_backend_kv_cache_usage_ratio": s.BackendKVRatio}
		if v, isBackend := backendValue[f.name]; isBackend {
			if v != nil {
				fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
				write(f.name, probe+`,backend="`+escape(s.Backend)+`"`, *v)
			}
			continue
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		switch f.name {
		case "council_probe_success":
			write(f.name, probe, b2f(s.Success))
		case "council_probe_duration_seconds":
			write(f.name, probe, s.Duration.Seconds())
		case "council_check_status":
			names := make([]string, 0, len(s.Checks))
			for c := range s.Checks {
				names = append(names, c)
			}
			sort.Strings(names)
			for _, c := range names {
				write(f.name, probe+`,check="`+escape(c)+`"`, float64(s.Checks[c]))
			}
		case "council_probe_last_run_timestamp_seconds":
			write(f.name, probe, float64(s.LastRun.UnixMilli())/1000)
		case "council_alert_outbox_depth":
			write(f.name, probe, float64(s.OutboxDepth))
		case "council_restarts_total":
			write(f.name, probe, float64(s.Restarts))
		case "council_fallback_active":
			write(f.name, probe, b2f(s.FallbackActive))
		case "council_probe_interval_seconds":
			write(f.name, probe, s.Interval.Seconds())
		}
	}
	seen := map[string]bool{}
	for i, g := range s.Gauges {
		if seen[g.Name] {
			continue
		}
		seen[g.Name] = true
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", g.Name, g.Help, g.Name)
		for _, h := range s.Gauges[i:] {
			if h.Name != g.Name {
				continue
			}
			labels := probe
			for j := 0; j+1 < len(h.Labels); j += 2 {
				labels += "," + h.Labels[j] + `="` + escape(h.Labels[j+1]) + `"`
			}
			write(h.Name, labels, h.Value)
		}
	}
	return []byte(b.String())
}

// Write renders s into dir/council_<probe>.prom atomically (mode 0644: the
// node_exporter user must read it; it holds no secret).
func Write(dir string, s Snapshot) error {
	path := filepath.Join(dir, "council_"+strings.ReplaceAll(s.Probe, "-", "_")+".prom")
	return atomicfile.WriteFile(path, Render(s), 0o644)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// escape escapes a label value per the text format.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
