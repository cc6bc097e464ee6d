package integration

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// The matrix's own machinery, tested so that a cell cannot pass because an
// assertion is blind.

func TestMatchCheck(t *testing.T) {
	for _, tc := range []struct {
		pattern, check string
		want           bool
	}{
		{"unreachable", "unreachable", true},
		{"unreachable", "unreachable_x", false},
		{"drifted:*", "drifted:/home/x/app.conf", true},
		{"drifted:*", "deployed_missing:/home/x/app.conf", false},
		{"drifted:*", "drifted", false},
	} {
		t.Run(tc.pattern+"~"+tc.check, func(t *testing.T) {
			if got := matchCheck(tc.pattern, tc.check); got != tc.want {
				t.Fatalf("matchCheck(%q, %q) = %v", tc.pattern, tc.check, got)
			}
		})
	}
}

// TestLeakCheckSeesEveryOutput plants the token in each place the matrix
// promises to look and expects each to be found.
func TestLeakCheckSeesEveryOutput(t *testing.T) {
	for name, plant := range map[string]func(t *testing.T, w *world){
		"stdout":     func(t *testing.T, w *world) { w.outs = append(w.outs, "ok "+probetest.PlantedToken) },
		"log file":   func(t *testing.T, w *world) { writeFile(t, w.logFile(), `{"token":"`+probetest.PlantedToken+`"}`) },
		"state file": func(t *testing.T, w *world) { writeFile(t, w.stateFile(), probetest.PlantedToken) },
		"alert": func(t *testing.T, w *world) {
			body := `{"source":"council-x","severity":"error","title":"council-x: c","message":"` + probetest.PlantedToken + `"}`
			resp, err := http.Post(w.ff.URL(), "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		},
		"launchctl call": func(t *testing.T, w *world) { writeFile(t, w.ld.CallLog, "kickstart -k "+probetest.PlantedToken+"\n") },
	} {
		t.Run(name, func(t *testing.T) {
			w := &world{t: t, rig: probeRig{name: "x"}, home: probetest.NewHome(t).WithToken(0o600),
				ff: probetest.NewForceFlow(t), ld: probetest.NewLaunchd(t, launchctlBin)}
			if l := w.leaks(); len(l) != 0 {
				t.Fatalf("leaks before planting: %v", l)
			}
			plant(t, w)
			if l := w.leaks(); len(l) == 0 {
				t.Fatal("the planted token was not found")
			}
		})
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRenderMatrix(t *testing.T) {
	g, c := probes[0].name, probes[1].name
	outcomes := map[[2]string]string{{g, fHealthy}: "PASS", {g, fDown}: "FAIL", {c, fHealthy}: "SKIP"}
	applies := map[[2]string]bool{{g, fHealthy}: true, {g, fDown}: true, {c, fHealthy}: true, {c, fDown}: true}
	var out bytes.Buffer
	renderMatrix(&out, outcomes, applies)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; last != "1 passed, 1 failed" {
		t.Errorf("last line %q, want the totals alone", last)
	}
	for _, want := range []string{"PASS", "FAIL", "SKIP", "not run", "-"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("matrix lacks %q:\n%s", want, out.String())
		}
	}
}

// TestAlive: the drift SIGTERM cell's "nothing left running" check must see
// a live process as alive and a killed, reaped one as gone.
func TestAlive(t *testing.T) {
	cmd := exec.Command(lookPath(t, "sleep"), "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !alive(pid) {
		t.Fatalf("a running sleep (pid %d) reads as gone", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if alive(pid) {
		t.Fatalf("a killed and reaped sleep (pid %d) reads as alive", pid)
	}
}
