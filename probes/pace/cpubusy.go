package pace

import (
	"context"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/host/proccpu"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/backend"
)

// A server that serves one request at a time (Ollama with
// OLLAMA_NUM_PARALLEL=1, the default on a small machine) queues the
// probe's request behind another client's without a word: no /metrics,
// and the other request's log line comes only when it ends, which may be
// after the sample. Its CPU says it: a server already working when the
// probe is about to send its request is busy. This is the evidence of
// last resort, read only where the server does not report its running
// requests itself (llama-server, vLLM do: serverbusy.go), and sampled
// before anything of the probe's own reaches the server (before a cold
// model is loaded, before the request), over the primary's whole process
// tree (pkg/host/proccpu: Ollama generates in its child, `ollama runner`).

// busyByCPU: the primary's CPU before the sample said it was working.
const busyByCPU = "cpu"

// Defaults of the CPU evidence.
const (
	defaultBusyCPU       = 0.10 // of one core: an idle server, serve and runner, stays under 2%
	defaultBusyCPUWindow = 2 * time.Second
	defaultPrimaryLabel  = "com.sanctum.mlx"
)

// cpuBefore is the primary's CPU just before the sample.
type cpuBefore struct {
	Sampled bool
	Busy    bool
	PID     int
	Procs   int
	Cores   float64
	Window  time.Duration
	Limit   float64
}

// sampleCPUBefore samples the primary's process tree for --busy-cpu-window
// when the server's own metrics (before) do not report its running
// requests. Not sampled (and not busy) when it is off, when the service
// manager (launchd, systemd) runs no primary, or when the sample fails:
// logged, never a failure of the tick.
func sampleCPUBefore(ctx context.Context, t *probe.Tick, s settings, before backend.Metrics) cpuBefore {
	limit, window, label := s.BusyCPU, s.BusyCPUWindow, s.PrimaryLabel
	if limit <= 0 || window <= 0 || before.RequestsRunning != nil {
		return cpuBefore{}
	}
	pid, kind, err := probe.PrimaryPID(ctx, t.Common, label)
	if err != nil || pid <= 0 {
		t.Log.Info("primary_cpu_unknown", "label", label, "service_manager", string(kind), "reason", "the service manager runs no primary process", "error", redact.Error(err))
		return cpuBefore{}
	}
	u, err := proccpu.New().Sample(ctx, pid, window)
	if err != nil {
		t.Log.Info("primary_cpu_unknown", "label", label, "pid", pid, "error", redact.Error(err))
		return cpuBefore{}
	}
	return cpuBefore{Sampled: true, Busy: !u.Below(limit), PID: pid, Procs: u.Procs, Cores: u.Cores(), Window: u.Window, Limit: limit}
}

// attrs are the CPU evidence's pace_sample fields.
func (c cpuBefore) attrs() []any {
	if !c.Sampled {
		return nil
	}
	return []any{"cpu_before_pct", round2(c.Cores * 100), "cpu_before_procs", c.Procs, "cpu_before_window_ms", c.Window.Milliseconds()}
}

// busySummary is the human summary's reason of a busy sample.
func busySummary(m measured) string {
	if _, reason := m.busy(); reason == busyByCPU {
		return fmt.Sprintf("busy (the primary was already working before the sample: %.0f%% of a core, %d process(es))", m.CPU.Cores*100, m.CPU.Procs)
	}
	return fmt.Sprintf("busy (%d other request(s) during the sample)", m.others())
}
