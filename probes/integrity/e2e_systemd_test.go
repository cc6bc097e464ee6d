//go:build linux

package integrity

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/primarycheck"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// systemdHost is the e2e host with the primary run by the simulated
// systemd as a unit, and a fallback unit beside it, disabled.
type systemdHost struct {
	*host
	sd *probetest.Systemd
}

const (
	primaryUnit  = "sanctum-mlx.service"
	fallbackUnit = "sanctum-fallback.service"
)

func newSystemdHost(t *testing.T) *systemdHost {
	h := &systemdHost{host: newHost(t), sd: probetest.NewSystemd(t, fakeSystemctl, fakeJournalctl)}
	h.sd.WriteUnit(t, primaryUnit, "the primary", "ExecStart="+h.bin+" 300", "Restart=always")
	h.sd.WriteUnit(t, fallbackUnit, "the fallback", "ExecStart=/bin/sleep 300", "Restart=always")
	h.sd.Run(t, "enable", "--now", primaryUnit)
	// No pid file: the pid is systemd's MainPID. No Metal on Linux.
	h.args = slices.DeleteFunc(h.args, func(a string) bool { return a == "--pid-file" || a == h.pidFile })
	h.args = append(h.args, "--primary-unit", primaryUnit, "--fallback-unit", fallbackUnit)
	os.Remove(primarycheck.MetallibPath(h.bin, primarycheck.DefaultMetallib))
	return h
}

func (h *systemdHost) run(extra ...string) (probetest.Result, []map[string]any) {
	h.t.Helper()
	env := h.home.Env(h.sd.Env()...)
	res := probetest.Run(h.t, 60*time.Second, env, integrityBin, append(slices.Clone(h.args), extra...)...)
	all := probetest.Events(h.t, h.home.LogFile("integrity"))
	evs := all[h.seen:]
	h.seen = len(all)
	return res, evs
}

// Under systemd the running process is the unit's MainPID, the Metal
// library is not applicable (and never a failure), and a rebuilt binary
// the unit still runs is stale.
func TestE2ESystemd(t *testing.T) {
	h := newSystemdHost(t)
	res, evs := h.run()
	if res.Code != 0 {
		t.Fatalf("exit %d: %s\nfailing %v", res.Code, res.Stdout, failing(evs))
	}
	one(t, evs, eventNotApplies, CheckMetallibMissing)
	ok := one(t, evs, eventOK, CheckStaleProcess)
	if ok["pid_source"] != pidFromService {
		t.Errorf("pid source %v, want the service manager's", ok["pid_source"])
	}
	if !strings.Contains(res.Stdout, "metallib n/a on Linux") || !strings.Contains(res.Stdout, "[systemd user]") {
		t.Errorf("status line %q", res.Stdout)
	}

	// Rebuilt, not restarted: stale.
	probetest.CopyFile(t, "/bin/sleep", h.bin, 0o755)
	probetest.SignFile(t, h.priv, h.bin)
	res, evs = h.run()
	if res.Code != 2 || failing(evs)[CheckStaleProcess] != eventFailed {
		t.Errorf("rebuilt binary: exit %d, failing %v", res.Code, failing(evs))
	}
	// Restarted by systemd: current again.
	h.sd.Run(t, "restart", primaryUnit)
	if res, evs = h.run(); res.Code != 0 {
		t.Errorf("after the restart: exit %d, failing %v", res.Code, failing(evs))
	}
}

// A missing binary promotes the fallback the systemd way: disable --now
// the primary, enable --now the fallback.
func TestE2ESystemdPromotion(t *testing.T) {
	h := newSystemdHost(t)
	os.Remove(h.bin)
	res, evs := h.run()
	if res.Code != 2 {
		t.Fatalf("exit %d: %s", res.Code, res.Stdout)
	}
	one(t, evs, eventFallback, checkFallbackActivated)
	want := []string{"--user disable --now " + primaryUnit, "--user enable --now " + fallbackUnit}
	got := h.sd.MutatingCalls()
	if !slices.Equal(got[len(got)-2:], want) {
		t.Errorf("calls %q, want them to end %q", got, want)
	}
	if p := h.sd.Show(t, fallbackUnit); p["SubState"] != "running" || p["UnitFileState"] != "enabled" {
		t.Errorf("fallback %v", p)
	}
}

// Without the privilege to change a system unit, the promotion is UNKNOWN
// "not permitted" on fallback_down, never a silent no-op (the tick is
// still CRITICAL: the binary is missing).
func TestE2ESystemdPromotionNotPermitted(t *testing.T) {
	h := newSystemdHost(t)
	h.sd.Fail = "disable=denied"
	os.Remove(h.bin)
	res, evs := h.run("--scope", "system")
	if res.Code != 2 || failing(evs)[checkFallbackDown] != "" {
		t.Fatalf("exit %d, want 2: %s", res.Code, res.Stdout)
	}
	e := one(t, evs, "promote_not_permitted", checkFallbackDown)
	if d, _ := e["detail"].(string); !strings.Contains(d, "not permitted") || !strings.Contains(d, "polkit") {
		t.Errorf("detail %q", d)
	}
	if a := h.ff.AlertsFor(checkFallbackDown); len(a) != 1 {
		t.Errorf("alerts %+v", a)
	}
}
