//go:build real

package real

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/host/paths"
	"github.com/sanctum/council-probes/pkg/host/signing"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
	"github.com/sanctum/council-probes/pkg/testkit/realollama"
)

// runTimeout bounds one probe process: generous, since a tick may wait
// for the model to load and the machine is shared.
const runTimeout = 3 * time.Minute

// host is one test's council host: a throwaway $HOME laid out like the
// council's, the fake launchd, a Force Flow stand-in, and a real Ollama as
// the primary, serving the tiny model.
type host struct {
	t    *testing.T
	home *probetest.Home
	ld   *probetest.Launchd
	ff   *probetest.ForceFlow
	// srv is the running Ollama; Supervised says whether the fake launchd
	// runs it (as com.sanctum.mlx) or the test does.
	srv *realollama.Server
	// model is the model the probes are pointed at (--model).
	model realollama.Created
	// bin is the primary binary: a copy of the cached ollama installed in
	// the home (so a test may replace it, and integrity's running-inode
	// check compares the file the server runs), signed with pub's key.
	bin, priv, pub string

	// seen counts each probe's events already returned by run.
	seen map[string]int
}

// hostConfig shapes a host.
type hostConfig struct {
	// plain runs ollama serve as a child of the test instead of as the
	// fake launchd's primary job.
	plain bool
	// server configures the server (environment, launchd KeepAlive).
	server realollama.Options
	// modelName is the model's name (default "tiny"); model shapes it
	// (default: it counts, runs to max_tokens, Ollama's default context).
	modelName string
	model     realollama.Model
	// noModel skips creating the model.
	noModel bool
}

// newHost lays out the home, installs and signs the primary binary,
// starts Ollama (supervised unless cfg.plain) with its log in the home's
// log directory, and creates the model. Everything stops at cleanup.
func newHost(t *testing.T, cfg hostConfig) *host {
	t.Helper()
	h := &host{t: t, home: probetest.NewHome(t), seen: map[string]int{}}
	h.ld = probetest.NewLaunchd(t, launchctlBin)
	h.ff = probetest.NewForceFlow(t)
	binDir := filepath.Join(h.home.Dir, "ollama", "bin")
	keys := filepath.Join(h.home.Dir, "keys")
	for _, d := range []string{binDir, keys} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	h.bin = filepath.Join(binDir, "ollama")
	h.install()
	h.priv, h.pub = filepath.Join(keys, "release.key"), filepath.Join(keys, "release.pub")
	if _, err := signing.GenerateKey(h.priv, h.pub); err != nil {
		t.Fatal(err)
	}
	h.sign()
	opts := cfg.server
	if opts.Log == "" {
		opts.Log = filepath.Join(h.home.LogDir, "ollama.log")
	}
	if cfg.plain {
		h.srv = realollama.Start(t, h.bin, opts)
	} else {
		h.srv = realollama.StartSupervised(t, h.bin, h.ld, h.home, opts)
	}
	if !cfg.noModel {
		name := cfg.modelName
		if name == "" {
			name = "tiny"
		}
		h.model = h.srv.Create(t, name, cfg.model)
	}
	return h
}

// install copies the cached ollama to the primary binary's path through
// a rename (a new inode, as a rebuild gives), with the metallib stand-in
// integrity wants beside it (an MLX check; Ollama has none).
func (h *host) install() {
	h.t.Helper()
	probetest.CopyFile(h.t, ollamaBin, h.bin, 0o755)
	if err := os.WriteFile(filepath.Join(filepath.Dir(h.bin), "mlx.metallib"), []byte("metal library stand-in"), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// sign writes the primary binary's detached signature.
func (h *host) sign() {
	h.t.Helper()
	probetest.SignFile(h.t, h.priv, h.bin)
}

// tick is one run of a probe: how it exited and the events it logged.
type tick struct {
	probetest.Result
	events []map[string]any
}

// find returns the tick's events named event (for check, if not empty).
func (tk tick) find(event, check string) []map[string]any {
	return probetest.Find(tk.events, event, check)
}

// one returns the tick's single event named event (for check), failing
// the test otherwise.
func (tk tick) one(t *testing.T, event, check string) map[string]any {
	t.Helper()
	got := tk.find(event, check)
	if len(got) != 1 {
		t.Fatalf("want one %s event (check %q), got %d; the tick:\n%s", event, check, len(got), tk)
	}
	return got[0]
}

// wantCode fails the test unless the tick exited with code.
func (tk tick) wantCode(t *testing.T, code int) {
	t.Helper()
	if tk.Code != code {
		t.Fatalf("exit %d, want %d; the tick:\n%s", tk.Code, code, tk)
	}
}

// String renders the tick for a failure message.
func (tk tick) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "exit %d\nstdout: %s\nstderr: %s\nevents:\n", tk.Code, tk.Stdout, tk.Stderr)
	for _, e := range tk.events {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// run runs one tick of probe ("guardian", "canary", "drift",
// "integrity", "parity-smoke", "pace" or "context") against the host: the home's
// environment, the fake launchd, Force Flow, the flags every tick of the
// probe needs here (probeArgs), then args (a later flag wins). It
// returns the tick with the events logged during it.
func (h *host) run(probe string, args ...string) tick {
	h.t.Helper()
	bin, ok := probeBins[probe]
	if !ok {
		h.t.Fatalf("no probe %q", probe)
	}
	env := h.home.Env(append(h.ld.Env(), "FORCE_FLOW_URL="+h.ff.URL())...)
	argv := append(h.probeArgs(probe), args...)
	res := probetest.Run(h.t, runTimeout, env, *bin, argv...)
	var evs []map[string]any
	if _, err := os.Stat(h.home.LogFile(probe)); err == nil {
		all := probetest.Events(h.t, h.home.LogFile(probe))
		evs = all[min(h.seen[probe], len(all)):]
		h.seen[probe] = len(all)
	}
	return tick{Result: res, events: evs}
}

// probeArgs are the flags every tick of probe gets on this host.
func (h *host) probeArgs(probe string) []string {
	h.t.Helper()
	network := []string{"--url", h.srv.URL, "--model", h.model.Name}
	switch probe {
	case "guardian":
		return append(network, "--primary-binary", h.bin, "--primary-log", h.srv.Log,
			"--timeout", "10s", "--verify-timeout", "2m", "--verify-interval", "250ms",
			// The primaries here are seconds old; the start-up grace
			// has its own tests.
			"--startup-grace", "0")
	case "canary":
		return append(network, "--deadline", "2m", "--ttfb-timeout", "90s", "--stall-timeout", "30s")
	case "drift":
		return append(network, h.driftArgs()...)
	case "integrity":
		args := []string{"--primary-binary", h.bin, "--signing-pubkey", h.pub, "--fallback-url", ""}
		if h.srv.Label == "" {
			pidFile := filepath.Join(h.home.Dir, "ollama.pid")
			if err := os.WriteFile(pidFile, []byte(strconv.Itoa(h.srv.PID())+"\n"), 0o644); err != nil {
				h.t.Fatal(err)
			}
			return append(args, "--pid-source", "pid-file", "--pid-file", pidFile)
		}
		return append(args, "--pid-source", "launchctl")
	case "parity-smoke":
		return append(network, "--prompts", h.parityPrompts(), "--prompt-timeout", "90s", "--table", "never")
	case "pace":
		return append(network, "--primary-log", h.srv.Log, "--deadline", "2m", "--stall-timeout", "30s")
	case "context":
		return append(network, "--server-log", h.srv.Log, "--deadline", "2m")
	}
	h.t.Fatalf("no flags for probe %q", probe)
	return nil
}

// driftArgs lays out what drift compares (once): a git repository with a
// committed file, its deployed copy and the map, the fallback plist as it
// must be (RunAtLoad=false, Disabled=true, disabled in launchd), a
// guardian that ticked just now; it returns drift's flags, which expect
// the primary's job loaded (so drift runs on a supervised host only).
func (h *host) driftArgs() []string {
	h.t.Helper()
	if h.srv.Label == "" {
		h.t.Fatal("drift expects the primary loaded in launchd: use a supervised host")
	}
	repo := paths.Home(h.home.Dir).Repo()
	mapFile := paths.Home(h.home.Dir).DriftMap()
	if _, err := os.Stat(mapFile); errors.Is(err, os.ErrNotExist) {
		const content = "threads = 8\n"
		for _, f := range []string{filepath.Join(repo, "deploy", "app.conf"), filepath.Join(h.home.Dir, "deployed", "app.conf")} {
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				h.t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
				h.t.Fatal(err)
			}
		}
		for _, args := range [][]string{{"init", "-q"}, {"add", "deploy/app.conf"},
			{"-c", "user.name=real", "-c", "user.email=real@example.invalid", "commit", "-q", "-m", "canonical"}} {
			cmd := exec.Command("git", args...)
			cmd.Dir, cmd.Env = repo, h.home.Env()
			if out, err := cmd.CombinedOutput(); err != nil {
				h.t.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
		if err := os.WriteFile(mapFile, []byte("~/deployed/app.conf = deploy/app.conf\n"), 0o644); err != nil {
			h.t.Fatal(err)
		}
		h.writeFallback()
		if out, err := h.launchctl("disable", fmt.Sprintf("gui/%d/%s", os.Getuid(), fallbackLabel)); err != nil {
			h.t.Fatalf("launchctl disable: %v\n%s", err, out)
		}
	}
	guardian := state.New("guardian")
	guardian.LastTick, guardian.IntervalSeconds = time.Now(), 30
	if err := guardian.Save(h.home.StateFile("guardian")); err != nil {
		h.t.Fatal(err)
	}
	return []string{"--map", mapFile, "--repo", repo, "--watch-probe", "guardian=30s", "--timeout", "30s",
		"--expect-agent", h.srv.Label}
}

// fallbackLabel is the fallback server's launchd label (the probes'
// default).
const fallbackLabel = "com.sanctum.server-mlx"

// writeFallback writes the fallback's plist as it ships: Disabled=true,
// RunAtLoad=false, KeepAlive=true; its program is never started here.
func (h *host) writeFallback() {
	h.t.Helper()
	agents := paths.Home(h.home.Dir).LaunchAgents()
	if err := os.MkdirAll(agents, 0o700); err != nil {
		h.t.Fatal(err)
	}
	body := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key><string>` + fallbackLabel + `</string>
	<key>ProgramArguments</key><array><string>/bin/false</string></array>
	<key>RunAtLoad</key><false/>
	<key>KeepAlive</key><true/>
	<key>Disabled</key><true/>
</dict>
</plist>
`
	if err := os.WriteFile(filepath.Join(agents, fallbackLabel+".plist"), []byte(body), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// launchctl runs the fake launchctl as the host's operator would.
func (h *host) launchctl(args ...string) ([]byte, error) {
	cmd := exec.Command(launchctlBin, args...)
	cmd.Env = h.home.Env(h.ld.Env()...)
	return cmd.CombinedOutput()
}

// parityPrompts writes a golden prompt set the tiny model passes and
// returns its path. The model counts and never stops: each prompt is cut
// by max_tokens on purpose, and says so (finish_reason "length").
func (h *host) parityPrompts() string {
	h.t.Helper()
	p := filepath.Join(h.home.Dir, "prompts.json")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	const prompts = `{
  "version": 1,
  "prompts": [
    {"id": "count", "prompt": "Count from 1 to 5.", "max_tokens": 8, "expect": ["1 2 3 4 5"], "finish_reason": "length"},
    {"id": "arith", "prompt": "What is 2+2? Respond with only the number.", "max_tokens": 8, "expect": ["4"], "finish_reason": "length"}
  ]
}
`
	if err := os.WriteFile(p, []byte(prompts), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// canaryHang writes the canary's state as the canary saves it: its hang
// channel failing for n ticks, the last one now (the guardian's wedged
// check reads it).
func (h *host) canaryHang(n int) {
	h.t.Helper()
	now := time.Now()
	st := state.New("canary")
	st.IntervalSeconds = 600
	st.LastTick, st.LastExit = now, 2
	st.Channels["hang"] = &alert.Channel{Consecutive: n, Firing: n >= 2, Severity: alert.Error,
		Summary: "no answer within the deadline", Since: now.Add(-time.Duration(n-1) * 10 * time.Minute)}
	if err := st.Save(h.home.StateFile("canary")); err != nil {
		h.t.Fatal(err)
	}
}

// waitNewPID waits until the primary runs under a pid other than old and
// answers, and returns the new pid.
func (h *host) waitNewPID(old int) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		if pid := h.srv.CurrentPID(); pid != 0 && pid != old {
			if err := h.srv.WaitReady(ctx); err != nil {
				h.t.Fatal(err)
			}
			return pid
		}
		select {
		case <-ctx.Done():
			h.t.Fatalf("the primary still runs as pid %d", old)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// alertsFor returns the alerts Force Flow received for check.
func (h *host) alertsFor(check string) []string {
	var out []string
	for _, a := range h.ff.AlertsFor(check) {
		out = append(out, string(a.Severity)+": "+a.Title+": "+a.Message)
	}
	return out
}
