package integration

import (
	"os"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/councilsim"
	"github.com/sanctum/council-probes/pkg/probetest"
)

// Remediation faults: a restart history dated in the future, a promotion
// cut short by SIGKILL or SIGTERM, and a reboot while on the fallback.
const (
	fFutureHistory = "restart history in 2031"
)

func init() {
	register("guardian", []string{fFutureHistory}, guardianRemediationCells)
}

func guardianRemediationCells() []cell {
	return []cell{
		{fault: fFutureHistory, sim: fault(councilsim.FaultDown), ticks: 3,
			setup: func(t *testing.T, w *world) {
				// Three restarts "in 2031": counted, they refuse every
				// restart until 2031.
				st := `{"version":1,"probe":"guardian","channels":{},"data":{"restart_history":` +
					`["2031-01-01T00:00:00Z","2031-01-01T00:01:00Z","2031-01-01T00:02:00Z"]}}`
				if err := os.WriteFile(w.stateFile(), []byte(st), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: want{code: 2, event: "clock_skew", check: "rate_limit", alert: delivered, alertCheck: "unreachable",
				then: func(t *testing.T, w *world) {
					restartAttempted(t, w)
					if evs := probetest.Find(w.events(), "rate_limit", "rate_limit"); len(evs) != 0 {
						t.Errorf("restarts dated in 2031 refused a restart now: %v", evs)
					}
					if st, _ := os.ReadFile(w.stateFile()); strings.Contains(string(st), "2031") {
						t.Errorf("the future history was kept after a restart:\n%s", st)
					}
				}},
			note: "restarts dated in the future are ignored (clock_skew logged): the primary is restarted, not rate-limited until 2031"},
	}
}
