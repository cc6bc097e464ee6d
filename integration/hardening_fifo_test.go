package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fifokit "github.com/sanctum/council-probes/pkg/testkit/fifo"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// fifoBound is how long a process may take before the test calls it
// blocked. The runs here take well under a second; the bound is generous
// so a loaded machine cannot fail them, and only a blocked open reaches it.
const fifoBound = 60 * time.Second

// TestNoReadBlocksOnAFIFO: every file a probe, council-status or an installer reads may be
// a FIFO, and no open of one may wait for a writer. These are the files the
// operator names (the config, the drift map, the fallback plist, the pid
// file, the manifest, its signature and key, the prompt file) and those
// council-status reads of the probes (a state file, an outbox, a log, the
// fallback lock). Before, each FIFO here hung its process in open(2), which
// SIGTERM cannot end: launchd's next tick never came. Now each is refused at
// once, and the output says why.
func TestNoReadBlocksOnAFIFO(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, bin string
		// args gets the FIFO's path and the home; files are the regular
		// files the run needs beside it.
		args func(fifo string, h *probetest.Home, files map[string]string) []string
		// fifoAt, when set, is where the FIFO goes instead of a temp name.
		fifoAt func(h *probetest.Home) string
	}{
		{name: "drift --map", bin: "council-drift",
			args: func(fifo string, h *probetest.Home, _ map[string]string) []string {
				return []string{"--map", fifo, "--repo", h.Dir, "--service-manager", "systemd"}
			}},
		{name: "drift --fallback-plist", bin: "council-drift",
			args: func(fifo string, h *probetest.Home, _ map[string]string) []string {
				return []string{"--fallback-plist", fifo, "--service-manager", "launchd", "--launchctl", filepath.Join(h.Dir, "no-launchctl")}
			}},
		{name: "integrity --pid-file", bin: "council-integrity",
			args: func(fifo string, _ *probetest.Home, _ map[string]string) []string {
				return []string{"--pid-source", "pid-file", "--pid-file", fifo, "--service-manager", "systemd"}
			}},
		{name: "integrity --manifest", bin: "council-integrity",
			args: func(fifo string, _ *probetest.Home, f map[string]string) []string {
				return []string{"--manifest", fifo, "--manifest-pubkey", f["pub"], "--service-manager", "systemd"}
			}},
		{name: "integrity --manifest-sig", bin: "council-integrity",
			args: func(fifo string, _ *probetest.Home, f map[string]string) []string {
				return []string{"--manifest", f["manifest"], "--manifest-sig", fifo, "--manifest-pubkey", f["pub"], "--service-manager", "systemd"}
			}},
		{name: "integrity --manifest-pubkey", bin: "council-integrity",
			args: func(fifo string, _ *probetest.Home, f map[string]string) []string {
				return []string{"--manifest", f["manifest"], "--manifest-pubkey", fifo, "--service-manager", "systemd"}
			}},
		{name: "parity-smoke --prompts", bin: "council-parity-smoke",
			args: func(fifo string, _ *probetest.Home, _ map[string]string) []string {
				return []string{"--prompts", fifo}
			}},
		{name: "guardian --config", bin: "council-guardian",
			args: func(fifo string, _ *probetest.Home, _ map[string]string) []string {
				return []string{"--config", fifo}
			}},
		{name: "status: a state file", bin: "council-status",
			fifoAt: func(h *probetest.Home) string { return h.StateFile("guardian") }},
		{name: "status: an outbox", bin: "council-status",
			fifoAt: func(h *probetest.Home) string { return filepath.Join(h.StateDir, "council-guardian.outbox.json") }},
		{name: "status: a log", bin: "council-status",
			fifoAt: func(h *probetest.Home) string { return h.LogFile("guardian") }},
		{name: "status: the fallback lock", bin: "council-status",
			fifoAt: func(h *probetest.Home) string { return filepath.Join(h.StateDir, "council-fallback.lock") }},
		// The installers read back what is installed, and the token file
		// to keep it out of what they write.
		{name: "plists install: an installed plist", bin: "council-plists",
			args:   installArgs,
			fifoAt: func(h *probetest.Home) string { return inDir(h.Dir, "installed", "com.sanctum.council-guardian.plist") }},
		{name: "plists install: the token file", bin: "council-plists",
			args:   installArgs,
			fifoAt: func(h *probetest.Home) string { return inDir(h.TokenFile()) }},
		{name: "units install: an installed unit", bin: "council-units",
			args:   installArgs,
			fifoAt: func(h *probetest.Home) string { return inDir(h.Dir, "installed", "council-guardian.service") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := probetest.NewHome(t)
			files := map[string]string{"manifest": filepath.Join(h.Dir, "weights.sha256")}
			writeFile(t, files["manifest"], "")
			_, files["pub"] = probetest.NewKey(t, h.Dir, "manifest")
			fifo := filepath.Join(h.Dir, "fifo")
			if tc.fifoAt != nil {
				fifo = tc.fifoAt(h)
			}
			fifokit.Make(t, fifo)
			bin := map[string]string{"council-status": statusBin, "council-plists": plistsBin, "council-units": unitsBin}[tc.bin]
			if bin == "" {
				bin = bins[tc.bin]
			}
			args := []string{"--json"}
			if tc.args != nil {
				args = tc.args(fifo, h, files)
			}
			ctx, cancel := context.WithTimeout(context.Background(), fifoBound)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = h.Env()
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("%s %s blocked on the FIFO %s (killed after %s)", tc.bin, strings.Join(args, " "), fifo, fifoBound)
			}
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("run %s: %v", tc.bin, err)
			}
			// A probe's one-line summary is cut; its log has every word.
			logged, _ := os.ReadFile(h.LogFile(strings.TrimPrefix(tc.bin, "council-")))
			if !strings.Contains(string(out)+string(logged), "is not a regular file (a FIFO)") {
				t.Errorf("%s exited %v without naming the FIFO:\n%s\nlog:\n%s", tc.bin, err, out, logged)
			}
		})
	}
}

// installArgs installs the plists or units into the home's "installed"
// folder, running no launchctl or systemctl.
func installArgs(_ string, h *probetest.Home, _ map[string]string) []string {
	return []string{"install", "--dry-run", "--destdir", filepath.Join(h.Dir, "installed"), "--bindir", filepath.Join(h.Dir, "bin"), "--home", h.Dir}
}

// inDir joins elem and makes the result's directory (a failure shows as
// mkfifo's).
func inDir(elem ...string) string {
	p := filepath.Join(elem...)
	os.MkdirAll(filepath.Dir(p), 0o700)
	return p
}
