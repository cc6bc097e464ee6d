package guardian

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/host/proccpu"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// wedgedTick is a guardian tick in-process, with the wedged check's
// default settings and its canary state file in the tick's state dir.
func wedgedTick(t *testing.T) (*probetest.Tick, *guardian) {
	t.Helper()
	k := probetest.NewTick(t, New(), probe.Common{PrimaryLabel: "com.sanctum.mlx"})
	s := settings{Timeout: defaultTimeout, Wedged: wedgedSettings{
		After: defaultWedgedAfter, CPUWindow: defaultCPUWindow, IdleCPU: defaultIdleCPU, MaxBusy: defaultMaxBusy,
		CanaryState: filepath.Join(k.Common.StateDir, "council-canary.json"), CanaryInterval: defaultCanaryInterval,
	}}
	return k, &guardian{t: k.Tick, s: s}
}

// cpu is a CPU sample of cores over 10 s, over procs processes.
func cpu(cores float64, procs int) proccpu.Usage {
	return proccpu.Usage{PID: 4242, CPU: time.Duration(cores * float64(10*time.Second)), Window: 10 * time.Second, Procs: procs}
}

var hung = hangEvidence{Check: "hang", Consecutive: 3}

// TestJudgeWedged: what the primary did while chat hung decides. Idle is
// wedged; working (its CPU, or requests its own metrics show) waits, its
// episode timed from the first tick that saw it, until --max-busy makes it
// a runaway.
func TestJudgeWedged(t *testing.T) {
	t.Run("idle is wedged", func(t *testing.T) {
		k, g := wedgedTick(t)
		v, err := g.judgeWedged(hung, busySample{PID: 4242, Usage: cpu(0.001, 1)})
		if err != nil || v.wait || v.reason != reasonIdle {
			t.Fatalf("verdict %+v, %v; want a restart for idle", v, err)
		}
		want := "primary com.sanctum.mlx is wedged: /v1/models answers but chat has hung for 3 canary tick(s) (hang) and its CPU is idle (0.1% of a core over 10s, 1 process); restarting"
		if v.msg != want {
			t.Fatalf("message\n%q\nwant\n%q", v.msg, want)
		}
		if _, ok := k.State.Data[busySinceKey]; ok {
			t.Fatal("an idle primary started a busy episode")
		}
	})

	t.Run("working waits, then is a runaway", func(t *testing.T) {
		k, g := wedgedTick(t)
		v, err := g.judgeWedged(hung, busySample{PID: 4242, Usage: cpu(0.5, 3), BusyBy: "cpu"})
		if err != nil || !v.wait {
			t.Fatalf("verdict %+v, %v; want a wait", v, err)
		}
		skips := k.Find("probe_skip_busy", CheckWedged)
		if len(skips) != 1 || skips[0]["reason"] != "cpu" || skips[0]["busy_ms"] != 0.0 || skips[0]["cpu_procs"] != 3.0 {
			t.Fatalf("events %v", k.Events())
		}
		if got := k.Summary(); got != "chat hangs (canary hang x3) but the primary is working (50.0% CPU, 3 processes: the primary and its children): not restarted" {
			t.Fatalf("summary %q", got)
		}
		if k.ExitCode() != probe.ExitOK {
			t.Fatalf("a working primary exits %d", k.ExitCode())
		}

		// Still busy, a minute short of --max-busy: still waiting.
		k = k.Next(defaultMaxBusy - time.Minute)
		g.t = k.Tick
		if v, _ := g.judgeWedged(hung, busySample{PID: 4242, Usage: cpu(0.5, 3), BusyBy: "cpu"}); !v.wait {
			t.Fatalf("verdict %+v before --max-busy", v)
		}
		// At --max-busy: a runaway, timed from the first busy tick.
		k = k.Next(time.Minute)
		g.t = k.Tick
		v, err = g.judgeWedged(hung, busySample{PID: 4242, Usage: cpu(0.5, 3), BusyBy: "cpu"})
		if err != nil || v.wait || v.reason != reasonRunaway || !strings.Contains(v.msg, "is a runaway") || !strings.Contains(v.msg, "for over 15m0s") {
			t.Fatalf("verdict %+v, %v; want a runaway", v, err)
		}
		if !hasAttr(v.attrs, "busy_ms", defaultMaxBusy.Milliseconds()) {
			t.Fatalf("attrs %v: want busy_ms %d", v.attrs, defaultMaxBusy.Milliseconds())
		}
	})

	t.Run("serving requests waits", func(t *testing.T) {
		k, g := wedgedTick(t)
		v, _ := g.judgeWedged(hung, busySample{PID: 4242, Usage: cpu(0.001, 1), BusyBy: reasonRequests, Running: 2, BusyWhat: "2 request(s) running and 40 token(s) processed in the window"})
		if !v.wait {
			t.Fatalf("verdict %+v; want a wait", v)
		}
		if got := k.Summary(); got != "chat hangs (canary hang x3) but the server is serving 2 request(s) (0.1% CPU): not restarted" {
			t.Fatalf("summary %q", got)
		}
		if e := k.Find("probe_skip_busy", CheckWedged); len(e) != 1 || e[0]["requests_running"] != 2.0 || e[0]["reason"] != reasonRequests {
			t.Fatalf("events %v", k.Events())
		}
	})

	t.Run("a busy episode dated after now starts now", func(t *testing.T) {
		k, g := wedgedTick(t)
		k.State.Put(busySinceKey, probetest.Epoch.Add(time.Hour))
		if v, _ := g.judgeWedged(hung, busySample{PID: 4242, Usage: cpu(0.5, 1), BusyBy: "cpu"}); !v.wait {
			t.Fatalf("verdict %+v", v)
		}
		if len(k.Find("clock_skew", "")) != 1 {
			t.Fatalf("no clock_skew: %v", k.Events())
		}
		// Had the future time stood, the episode would last 0 ms forever
		// and --max-busy never fire.
		k = k.Next(defaultMaxBusy)
		g.t = k.Tick
		if v, _ := g.judgeWedged(hung, busySample{PID: 4242, Usage: cpu(0.5, 1), BusyBy: "cpu"}); v.reason != reasonRunaway {
			t.Fatalf("verdict %+v after --max-busy; want a runaway", v)
		}
	})
}

// TestHangEvidence: no canary, a canary that is not hanging, or one whose
// evidence predates the last restart judges nothing; a missing or calm
// canary also closes the wedged channel.
func TestHangEvidence(t *testing.T) {
	t.Run("no canary closes the channel", func(t *testing.T) {
		k, g := wedgedTick(t)
		k.Fail(CheckWedged, "wedged", alert.Error, "was wedged")
		k = k.Next(time.Minute)
		g.t = k.Tick
		if _, hanging := g.hangEvidence(); hanging {
			t.Fatal("hanging without a canary state")
		}
		if len(k.Find("recovered", CheckWedged)) != 1 {
			t.Fatalf("wedged not closed: %v", k.Events())
		}
	})
	t.Run("a hang since the last restart", func(t *testing.T) {
		k, g := wedgedTick(t)
		writeCanaryStateAt(t, g.s.Wedged.CanaryState, probetest.Epoch.Add(-time.Minute), map[string]int{"hang": 2})
		ev, hanging := g.hangEvidence()
		if !hanging || ev.Check != "hang" || ev.Consecutive != 2 {
			t.Fatalf("= %+v, %v", ev, hanging)
		}
		// A restart after the canary's last tick: its word was about the
		// process the restart replaced.
		k.State.Put(lastRestartKey, probetest.Epoch.Add(-30*time.Second))
		if _, hanging := g.hangEvidence(); hanging {
			t.Fatal("evidence older than the last restart counted")
		}
		if e := k.Find("wedged_no_evidence", CheckWedged); len(e) != 1 || e[0]["reason"] != "the canary has not run since the last restart" {
			t.Fatalf("events %v", k.Events())
		}
	})
}

func writeCanaryStateAt(t *testing.T, path string, last time.Time, channels map[string]int) {
	t.Helper()
	src := writeCanaryState(t, last, 600, channels)
	probetest.CopyFile(t, src, path, 0o600)
}

func hasAttr(attrs []any, key string, value any) bool {
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i] == key && attrs[i+1] == value {
			return true
		}
	}
	return false
}
