package canary

import (
	"context"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/host/proccpu"
	"github.com/sanctum/council-probes/pkg/probe"
)

// A hang looks the same from outside whether the server is deadlocked or
// busy with a long job; its CPU tells them apart: the CPU of its whole
// process tree, since a server's work may run in a child (Ollama's
// `ollama runner` under `ollama serve`). The canary never acts on
// it (the guardian does, by the same rule: pkg/host/proccpu, under --idle-cpu
// of one core over --cpu-window is idle); it says which it was in the
// hang alert, for the human reading it.

// Defaults of the CPU sample, the guardian's.
const (
	defaultCPUWindow    = 10 * time.Second
	defaultIdleCPU      = 0.02
	defaultPrimaryLabel = "com.sanctum.mlx"
)

// cpuVerdict samples the primary's CPU and words the result for the hang
// alert: " The primary (pid N) was idle (0.1% of a core over 10s): wedged,
// not working." Empty when sampling is off or impossible (logged).
func cpuVerdict(ctx context.Context, t *probe.Tick, s settings) string {
	window, idle, label := s.CPUWindow, s.IdleCPU, s.PrimaryLabel
	if window <= 0 {
		return ""
	}
	pid, kind, err := probe.PrimaryPID(ctx, t.Common, label)
	if err != nil || pid <= 0 {
		t.Log.Info("primary_cpu_unknown", "label", label, "service_manager", string(kind), "reason", "the service manager runs no primary process", "error", redact.Error(err))
		return ""
	}
	u, err := proccpu.New().Sample(ctx, pid, window)
	if err != nil {
		t.Log.Info("primary_cpu_unknown", "label", label, "pid", pid, "error", redact.Error(err))
		return ""
	}
	pct := u.Cores() * 100
	verdict := "busy"
	if u.Below(idle) {
		verdict = "idle"
	}
	t.Log.Info("primary_cpu", "pid", pid, "cpu_pct", float64(int64(pct*100+0.5))/100, "cpu_procs", u.Procs,
		"cpu_window_ms", u.Window.Milliseconds(), "verdict", verdict)
	procs := ""
	if u.Procs > 1 {
		procs = fmt.Sprintf(" with its %d child process(es)", u.Procs-1)
	}
	if verdict == "idle" {
		return fmt.Sprintf(" The primary (pid %d%s) was idle (%.1f%% of a core over %s): wedged, not working.", pid, procs, pct, u.Window.Round(time.Second))
	}
	return fmt.Sprintf(" The primary (pid %d%s) was busy (%.1f%% of a core over %s): working, perhaps on a long request.", pid, procs, pct, u.Window.Round(time.Second))
}
