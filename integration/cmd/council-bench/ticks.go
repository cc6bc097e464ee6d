package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sanctum/council-probes/pkg/host/manifest"
	"github.com/sanctum/council-probes/pkg/host/signing"
	"github.com/sanctum/council-probes/pkg/testkit/systemdsim"
)

// tickSpec is how to run one healthy tick of a binary against the bench
// environment, for the RSS and timing figures.
type tickSpec struct {
	Binary string
	Note   string
	// Setup lays out what the tick needs, once per run (nil: nothing).
	Setup func(e *env) error
	// Args are the binary's arguments.
	Args func(e *env) []string
	// Env adds to the tick's environment.
	Env func(e *env) []string
	// RSSTarget is the binary's peak RSS bar (0: rssTarget).
	RSSTarget int64
}

// common are the flags every probe tick gets: no alert delivery, state and
// the JSON-lines log in the bench home (a real file, as in production: the
// log refuses /dev/null, a device, and would write its events to stderr).
func common(e *env) []string {
	return []string{"--log-file", benchLog(e), "--force-flow-url", "", "--state-dir", e.StateDir}
}

// benchLog is the JSON-lines log every tick of the bench writes.
func benchLog(e *env) string { return filepath.Join(e.StateDir, "bench.log") }

var tickSpecs = []tickSpec{
	{Binary: "council-guardian", Note: "primary a unit of the simulated systemd", Setup: setupGuardian, Args: func(e *env) []string {
		return append(common(e), "--url", e.SimURL, "--primary-unit", primaryUnit)
	}, Env: func(e *env) []string { return e.systemdEnv() }},
	{Binary: "council-canary", Args: func(e *env) []string {
		return append(common(e), "--url", e.SimURL)
	}},
	{Binary: "council-parity-smoke", Note: "2 prompts", Setup: setupParity, Args: func(e *env) []string {
		return append(common(e), "--url", e.SimURL, "--prompts", filepath.Join(e.Home, "prompts.json"), "--table", "never")
	}},
	{Binary: "council-integrity", Note: "incl. a signed 64 MiB weight manifest (cold hash)", Setup: setupIntegrity, Args: func(e *env) []string {
		p := primaryPaths(e)
		return append(common(e), "--primary-binary", p.binary, "--signing-pubkey", p.pub, "--pid-source", "pid-file",
			"--pid-file", p.pidFile, "--manifest", p.manifest, "--fallback-url", "")
	}},
	{Binary: "council-drift", Note: "1 mapped file, fake launchd", Setup: setupDrift, Args: func(e *env) []string {
		return append(common(e), "--map", filepath.Join(e.Home, "drift.map"), "--repo", filepath.Join(e.Home, "repo"),
			"--expect-agent", primaryLabel, "--watch-probe", "guardian=30s", "--launchctl", e.BinPath("fake-launchctl"))
	}, Env: func(e *env) []string { return e.launchdEnv() }},
	{Binary: "council-pace", Note: "512 + 128 tokens, judged", Args: paceArgs, RSSTarget: paceRSSTarget},
	{Binary: "council-status", Note: "reads the state the ticks above left", Args: func(e *env) []string {
		return []string{"--state-dir", e.StateDir, "--log-dir", filepath.Join(e.Home, "logs"), "--color", "never"}
	}},
}

// errNotBuilt is a tick that cannot run because a binary it needs is not
// in the bin directory: skipped, like an absent probe, not a failure.
var errNotBuilt = errors.New("not built")

func specFor(binary string) (tickSpec, bool) {
	for _, s := range tickSpecs {
		if s.Binary == binary {
			return s, true
		}
	}
	return tickSpec{}, false
}

// command is spec's tick as a command, or why it cannot run.
func (s tickSpec) command(e *env) (command, string) {
	p := e.BinPath(s.Binary)
	if p == "" {
		return command{}, "not built (no " + s.Binary + " in the bin directory)"
	}
	if s.Setup != nil {
		if _, done := e.setups[s.Binary]; !done {
			e.setups[s.Binary] = s.Setup(e)
		}
		if err := e.setups[s.Binary]; errors.Is(err, errNotBuilt) {
			return command{}, err.Error()
		} else if err != nil {
			return command{}, "setup: " + err.Error()
		}
	}
	c := command{Argv: append([]string{p}, s.Args(e)...), Env: e.Env()}
	if s.Env != nil {
		c.Env = append(c.Env, s.Env(e)...)
	}
	return c, ""
}

// parityPrompts is a golden set the in-process simulator answers right.
const parityPrompts = `{"version": 1, "prompts": [
  {"id": "arith", "prompt": "What is 2+2? Respond with only the number.", "max_tokens": 8, "expect": ["4"]},
  {"id": "capital", "prompt": "What is the capital of France? Answer in one word.", "max_tokens": 8, "expect": ["Paris"]}
]}
`

func setupParity(e *env) error {
	return os.WriteFile(filepath.Join(e.Home, "prompts.json"), []byte(parityPrompts), 0o644)
}

type primary struct {
	binary, metallib, priv, pub, pidFile, weights, manifest string
}

func primaryPaths(e *env) primary {
	dir := filepath.Join(e.Home, "sanctum")
	return primary{binary: filepath.Join(dir, "sanctum-mlx"), metallib: filepath.Join(dir, "mlx.metallib"),
		priv: filepath.Join(e.Home, "release.key"), pub: filepath.Join(e.Home, "release.pub"),
		pidFile: filepath.Join(e.Home, "sanctum-mlx.pid"),
		weights: filepath.Join(e.Home, "weights", "model.safetensors"), manifest: filepath.Join(e.Home, "weights", "SHA256SUMS")}
}

// setupIntegrity lays out a primary that passes every integrity check: an
// executable (a copy of sleep(1)) signed with ed25519 and running, its
// metallib, and a signed manifest of a 64 MiB weight file.
func setupIntegrity(e *env) error {
	p := primaryPaths(e)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return fmt.Errorf("no sleep(1) to stand in for the primary: %w", err)
	}
	for _, d := range []string{filepath.Dir(p.binary), filepath.Dir(p.weights)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(sleep, p.binary, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p.metallib, []byte("metal library stand-in"), 0o644); err != nil {
		return err
	}
	if _, err := signing.GenerateKey(p.priv, p.pub); err != nil {
		return err
	}
	if _, err := signing.SignFile(p.priv, p.binary); err != nil {
		return err
	}
	sum, err := writeWeights(p.weights, 64<<20)
	if err != nil {
		return err
	}
	mf, err := os.Create(p.manifest)
	if err != nil {
		return err
	}
	err = manifest.Write(mf, []manifest.Entry{{Path: filepath.Base(p.weights), SHA256: sum, Binary: true}})
	if cerr := mf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if _, err := signing.SignFile(p.priv, p.manifest); err != nil {
		return err
	}
	cmd := exec.Command(p.binary, "3600")
	if err := cmd.Start(); err != nil {
		return err
	}
	e.cleanups = append(e.cleanups, func() { cmd.Process.Kill(); cmd.Wait() })
	return os.WriteFile(p.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeWeights writes size bytes (each 1 MiB block different) and returns
// their SHA-256.
func writeWeights(path string, size int) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	block := make([]byte, 1<<20)
	for i := 0; i < size; i += len(block) {
		copy(block, fmt.Sprintf("block %d of the weights stand-in;", i))
		if _, err := io.MultiWriter(f, h).Write(block); err != nil {
			f.Close()
			return "", err
		}
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

const (
	primaryLabel  = "com.sanctum.mlx"
	fallbackLabel = "com.sanctum.server-mlx"
	// primaryUnit is the guardian's primary under the simulated systemd.
	primaryUnit = "sanctum-mlx.service"
)

// launchdEnv points launchctl calls at the fake launchd's state, and the
// probes at launchd.
func (e *env) launchdEnv() []string {
	return []string{"FAKE_LAUNCHD_STATE=" + filepath.Join(e.Home, "launchd.json"), "FAKE_LAUNCHD_LOG=" + filepath.Join(e.Home, "launchd.log"),
		"COUNCIL_SERVICE_MANAGER=launchd"}
}

// systemdLog is where the simulated systemd logs every systemctl and
// journalctl call.
func (e *env) systemdLog() string { return filepath.Join(e.Home, "systemd.log") }

// systemdEnv points the probes at the simulated systemd (pkg/testkit/systemdsim).
func (e *env) systemdEnv() []string {
	return []string{systemdsim.EnvState + "=" + filepath.Join(e.Home, "systemd.json"), systemdsim.EnvUnits + "=" + filepath.Join(e.Home, "units"),
		systemdsim.EnvLog + "=" + e.systemdLog(), "COUNCIL_SERVICE_MANAGER=systemd",
		"COUNCIL_SYSTEMCTL=" + e.BinPath("fake-systemctl"), "COUNCIL_JOURNALCTL=" + e.BinPath("fake-journalctl")}
}

// setupGuardian starts the guardian's primary as a unit of the simulated
// systemd (a sleep(1) stand-in; the guardian asks the in-process simulator
// for /v1/models): the healthy tick's crash check then has a process to
// remember.
func setupGuardian(e *env) error {
	fake := e.BinPath("fake-systemctl")
	if fake == "" || e.BinPath("fake-journalctl") == "" {
		return fmt.Errorf("%w (no fake-systemctl or fake-journalctl in the bin directory; make build makes them)", errNotBuilt)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return fmt.Errorf("no sleep(1) to stand in for the primary: %w", err)
	}
	units := filepath.Join(e.Home, "units")
	if err := os.MkdirAll(units, 0o755); err != nil {
		return err
	}
	unit := "[Unit]\nDescription=the primary (bench stand-in)\n[Service]\nExecStart=" + sleep + " 3600\nRestart=always\n[Install]\nWantedBy=default.target\n"
	if err := os.WriteFile(filepath.Join(units, primaryUnit), []byte(unit), 0o644); err != nil {
		return err
	}
	e.cleanups = append(e.cleanups, func() { systemdsim.Shutdown(filepath.Join(e.Home, "systemd.json")) })
	cmd := exec.Command(fake, "--user", "enable", "--now", primaryUnit)
	cmd.Env = append(e.Env(), e.systemdEnv()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("start the primary's unit: %v: %s", err, out)
	}
	// The operator's own call is not the guardian's.
	if err := os.Remove(e.systemdLog()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// setupDrift lays out a clean drift host: a git repository with one
// committed file, its deployed copy and the map, the fallback plist as it
// must be and disabled in launchd, the primary's agent loaded, and a fresh
// guardian state file.
func setupDrift(e *env) error {
	git, err := exec.LookPath("git")
	if err != nil {
		return fmt.Errorf("git not installed: %w", err)
	}
	fake := e.BinPath("fake-launchctl")
	if fake == "" {
		return fmt.Errorf("no fake-launchctl in the bin directory (make build makes it)")
	}
	repo := filepath.Join(e.Home, "repo")
	agents := filepath.Join(e.Home, "Library", "LaunchAgents")
	for _, d := range []string{filepath.Join(repo, "deploy"), filepath.Join(e.Home, "deployed"), agents} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	const content = "threads = 8\nport = 1337\n"
	files := map[string]string{
		filepath.Join(repo, "deploy", "app.conf"):     content,
		filepath.Join(e.Home, "deployed", "app.conf"): content,
		filepath.Join(e.Home, "drift.map"):            "~/deployed/app.conf = deploy/app.conf\n",
		filepath.Join(agents, fallbackLabel+".plist"): plist(fallbackLabel, "<key>RunAtLoad</key><false/><key>Disabled</key><true/>"),
		filepath.Join(agents, primaryLabel+".plist"):  plist(primaryLabel, "<key>RunAtLoad</key><false/>"),
	}
	for path, body := range files {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			return err
		}
	}
	run := func(dir, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, append(e.Env(), e.launchdEnv()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
		return nil
	}
	domain := fmt.Sprintf("gui/%d", os.Getuid())
	for _, step := range []func() error{
		func() error { return run(repo, git, "init", "-q") },
		func() error { return run(repo, git, "add", ".") },
		func() error {
			return run(repo, git, "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-q", "-m", "canonical")
		},
		func() error { return run(e.Home, fake, "disable", domain+"/"+fallbackLabel) },
		func() error {
			return run(e.Home, fake, "bootstrap", domain, filepath.Join(agents, primaryLabel+".plist"))
		},
		// guardian's tick (measured before drift) wrote its state file:
		// the watched probe is fresh.
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func plist(label, extra string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict><key>Label</key><string>` + label + `</string>
<key>ProgramArguments</key><array><string>/bin/sleep</string><string>3600</string></array>` + extra + `</dict></plist>
`
}
