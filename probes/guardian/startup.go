package guardian

import (
	"context"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/host/service"
)

// defaultStartupGrace covers the council's own start-up: verify the signed
// manifest (10 s), hash 16 GB of weights (10 s), load into Metal (60 s),
// slower under a reboot's load.
const defaultStartupGrace = 2 * time.Minute

// startingUp reports whether the primary is a process its service manager
// started less than grace ago: it is still loading, and a restart would
// only throw the load away and start it again. The failure still counts
// and alerts; only the restart waits. A primary the manager does not run,
// or whose age cannot be read, is not starting up. The start time is the
// manager's when it says (systemd's ExecMainStartTimestampMonotonic),
// else the kernel's.
func (g *guardian) startingUp(ctx context.Context, grace time.Duration) (pid int, age time.Duration, ok bool) {
	if grace <= 0 {
		return 0, 0, false
	}
	info := g.primaryInfo(ctx)
	if info == nil || !info.Running() {
		return 0, 0, false
	}
	started := info.Started
	if started.IsZero() {
		var err error
		if started, err = service.ProcessStart(info.PID); err != nil {
			g.t.Log.Warn("startup_grace_unavailable", "check", CheckUnreachable, "pid", info.PID, "error", err.Error())
			return 0, 0, false
		}
	}
	age = g.t.Now().Sub(started)
	if age < 0 {
		age = 0
	}
	return info.PID, age, age < grace
}

// skipStarting logs the deferred restart.
func (g *guardian) skipStarting(pid int, age, grace time.Duration, consecutive int) {
	g.t.Log.Warn("probe_skip_starting", "check", CheckUnreachable, "pid", pid, "age_ms", age.Milliseconds(),
		"grace_ms", grace.Milliseconds(), "consecutive", consecutive,
		"reason", fmt.Sprintf("the primary (pid %d) started %s ago, inside the %s start-up grace: not restarted", pid, age.Round(time.Second), grace))
}
