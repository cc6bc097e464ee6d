package paritysmoke

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// bin is the real council-parity-smoke binary, built once in TestMain.
var bin string

func TestMain(m *testing.M) {
	probetest.RunMain(m,
		probetest.Binary{Out: &bin, Pkg: "github.com/sanctum/council-probes/probes/paritysmoke/cmd/council-parity-smoke", Name: "council-parity-smoke"})
}

// refToken is the reference backend's own bearer token; it must never
// leak either.
const refToken = "sk-reference-PLANTED-9c2e11"

// setup is one end-to-end scenario: a home, a Force Flow stand-in, the
// primary simulator and optionally a reference simulator.
type setup struct {
	home     *probetest.Home
	ff       *probetest.ForceFlow
	primary  *councilsim.Sim
	ref      *councilsim.Sim
	refToken string // path of the reference's token file
	env      []string
}

// defaultAnswers maps each default prompt's text to its good answer, with
// overrides by prompt id.
func defaultAnswers(t testing.TB, override map[string]string) map[string]string {
	t.Helper()
	set, err := loadPrompts("")
	if err != nil {
		t.Fatal(err)
	}
	byID := simAnswers(t)
	out := map[string]string{}
	for _, p := range set.Prompts {
		a := byID[p.ID]
		if o, ok := override[p.ID]; ok {
			a = o
		}
		out[p.Prompt] = a
	}
	return out
}

// newSetup starts the primary (bearer, or mTLS with certs) and, when
// withRef, a reference simulator with its own token. mutate adjusts the
// primary's config.
func newSetup(t testing.TB, certs, withRef bool, mutate func(*councilsim.Config)) *setup {
	t.Helper()
	s := &setup{home: probetest.NewHome(t).WithToken(0o600), ff: probetest.NewForceFlow(t)}
	if certs {
		s.home.WithCerts("parity-smoke")
	}
	s.primary = s.home.Sim(func(c *councilsim.Config) {
		c.Answers = defaultAnswers(t, nil)
		if mutate != nil {
			mutate(c)
		}
	})
	s.env = s.home.Env("FORCE_FLOW_URL="+s.ff.URL(), "COUNCIL_URL="+s.primary.PlainURL(), "COUNCIL_PARITY_PROMPT_TIMEOUT=5s")
	if certs {
		s.env = append(s.env, "COUNCIL_MTLS_URL="+s.primary.MTLSURL())
	}
	if withRef {
		s.useReference(t, nil)
	}
	return s
}

// useReference starts the reference simulator (its own bearer token, the
// good answers with override by id) and points the probe at it.
func (s *setup) useReference(t testing.TB, override map[string]string) {
	t.Helper()
	s.ref = startSim(t, councilsim.Config{Token: refToken, Answers: defaultAnswers(t, override)})
	s.refToken = filepath.Join(s.home.Dir, ".sanctum", "secrets", "reference.token")
	if err := os.WriteFile(s.refToken, []byte(refToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env, "COUNCIL_REFERENCE_URL="+s.ref.PlainURL(), "COUNCIL_REFERENCE_TOKEN_FILE="+s.refToken)
}

// run runs the probe and returns its result and events, after checking
// that no secret leaked anywhere.
func (s *setup) run(t *testing.T, args ...string) (probetest.Result, []map[string]any) {
	t.Helper()
	os.Remove(s.home.LogFile(name))
	res := probetest.Run(t, 90*time.Second, s.env, bin, args...)
	if leaks := probetest.Leaks(s.home.Dir, res.Stdout, res.Stderr); len(leaks) > 0 {
		t.Fatalf("planted token leaked into %v", leaks)
	}
	for _, out := range []string{res.Stdout, res.Stderr, readFile(s.home.LogFile(name))} {
		if strings.Contains(out, refToken) {
			t.Fatalf("reference token leaked:\n%s", out)
		}
	}
	return res, probetest.Events(t, s.home.LogFile(name))
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// prompts returns the parity_prompt events by id, checking there is one
// per default prompt.
func prompts(t *testing.T, evs []map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, e := range probetest.Find(evs, "parity_prompt", CheckParity) {
		out[e["id"].(string)] = e
	}
	if len(out) != 10 {
		t.Fatalf("%d parity_prompt events, want 10", len(out))
	}
	return out
}

func num(e map[string]any, k string) int {
	f, _ := e[k].(float64)
	return int(f)
}

func TestE2EIdenticalBackends(t *testing.T) {
	s := newSetup(t, true, true, nil)
	res, evs := s.run(t, "--table", "always")
	if res.Code != 0 {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", res.Code, res.Stdout, res.Stderr)
	}
	for id, e := range prompts(t, evs) {
		if e["pass"] != true || e["exact"] != true || e["basis"] != "logprobs" || num(e, "divergence") != -1 {
			t.Errorf("%s: %v", id, e)
		}
		if num(e, "prefix") != num(e, "tokens") || num(e, "tokens") == 0 || e["transport"] != "mtls" {
			t.Errorf("%s: prefix %v of %v tokens, transport %v", id, e["prefix"], e["tokens"], e["transport"])
		}
	}
	if ok := probetest.Find(evs, "parity_ok", CheckParity); len(ok) != 1 || num(ok[0], "exact") != 10 {
		t.Fatalf("parity_ok = %v", ok)
	}
	if len(probetest.Find(evs, "reference_ok", CheckReference)) != 1 {
		t.Fatal("no reference_ok event")
	}
	for _, want := range []string{"PREFIX/TOKENS", "arith-add", "long-healthcheck", "97/97 exact", "10/10 passed, 10/10 identical to the reference",
		"COUNCIL PARITY SMOKE OK - 10/10 prompts passed, 10/10 identical to the reference"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.Stdout)
		}
	}
	if a := s.ff.Alerts(); len(a) != 0 {
		t.Fatalf("alerts on a healthy run: %v", a)
	}
	if s.primary.Requests() != 10 || s.ref.Requests() != 10 {
		t.Fatalf("requests: primary %d, reference %d; want 10 each", s.primary.Requests(), s.ref.Requests())
	}
}

func TestE2EDivergence(t *testing.T) {
	const n = 5
	tests := []struct {
		name  string
		args  []string
		basis string
	}{
		{"server tokens", nil, "logprobs"},
		{"own tokenization", []string{"--logprobs=false"}, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, false, true, func(c *councilsim.Config) {
				c.Fault, c.DivergeAfter = councilsim.FaultDiverge, n
			})
			res, evs := s.run(t, append([]string{"--table", "always"}, tt.args...)...)
			if res.Code != 2 {
				t.Fatalf("exit %d, want 2\n%s%s", res.Code, res.Stdout, res.Stderr)
			}
			answers := simAnswers(t)
			for id, e := range prompts(t, evs) {
				simToks := councilsim.Tokenize(answers[id])
				same := min(n, len(simToks)) // tokens the simulator kept
				want := same
				if tt.basis == "text" {
					// The same point, counted in our own tokens.
					want = tokenize(strings.Join(simToks[:same], "")).Len()
				}
				if e["basis"] != tt.basis || e["exact"] != false || num(e, "divergence") != want || num(e, "prefix") != want {
					t.Errorf("%s: basis %v divergence %v prefix %v, want %s %d", id, e["basis"], e["divergence"], e["prefix"], tt.basis, want)
				}
				if !strings.Contains(fmt.Sprint(e["primary_excerpt"]), "~diverged~") || strings.Contains(fmt.Sprint(e["reference_excerpt"]), "~diverged~") {
					t.Errorf("%s: excerpts %q vs %q", id, e["primary_excerpt"], e["reference_excerpt"])
				}
			}
			long := prompts(t, evs)["long-healthcheck"]
			if tt.basis == "logprobs" && (num(long, "divergence") != n || !strings.Contains(long["reason"].(string), "at token 5")) {
				t.Fatalf("long answer: %v", long)
			}
			alerts := s.ff.AlertsFor(CheckParity)
			if len(alerts) != 1 || alerts[0].Severity != "error" || !strings.Contains(alerts[0].Message, "long-healthcheck") {
				t.Fatalf("parity alerts = %+v", alerts)
			}
			if !strings.Contains(res.Stdout, "FAIL") || !strings.Contains(res.Stdout, "0/10 identical to the reference") {
				t.Fatalf("table:\n%s", res.Stdout)
			}
		})
	}
}

// Divergence past --min-prefix is reported but tolerated: the reference's
// long answer takes another turn after 40 tokens.
func TestE2ELateDivergenceTolerated(t *testing.T) {
	const n = 40
	s := newSetup(t, false, false, nil)
	long := councilsim.Tokenize(simAnswers(t)["long-healthcheck"])
	s.useReference(t, map[string]string{"long-healthcheck": strings.Join(long[:n], "") + " That is why a check must speak the protocol."})
	res, evs := s.run(t, "--table", "always")
	if res.Code != 0 || len(probetest.Find(evs, "parity_ok", CheckParity)) != 1 {
		t.Fatalf("exit %d, want 0\n%s", res.Code, res.Stdout)
	}
	for id, e := range prompts(t, evs) {
		if id == "long-healthcheck" {
			if e["pass"] != true || e["exact"] != false || num(e, "divergence") != n || !strings.Contains(e["reference_excerpt"].(string), "That is why") {
				t.Errorf("long answer diverging at %d: %v", n, e)
			}
			continue
		}
		if e["exact"] != true {
			t.Errorf("%s: %v", id, e)
		}
	}
	if !strings.Contains(res.Stdout, "diverged at token 40 (tolerated)") || !strings.Contains(res.Stdout, "9/10 identical") {
		t.Fatalf("table:\n%s", res.Stdout)
	}
}

func TestE2EFailures(t *testing.T) {
	garbage := "\x00\x01\ufffd<unk>\x07\x02<0x0F>\x1b"
	tests := []struct {
		name     string
		fault    councilsim.Fault
		override map[string]string
		code     int
		failing  map[string]string // id -> reason substring
		alert    bool
	}{
		{"one wrong answer is tolerated", "", map[string]string{"arith-add": "41"}, 0,
			map[string]string{"arith-add": `missing "42"`}, false},
		{"an empty and a garbage answer fail the set", "", map[string]string{"arith-add": "", "fact-water": garbage}, 2,
			map[string]string{"arith-add": "empty answer", "fact-water": "garbage"}, true},
		{"a repeating answer is a loop", "", map[string]string{"list-planets": strings.Repeat("Mercury ", 12), "fact-capital": "Lyon"}, 2,
			map[string]string{"list-planets": `loop: "Mercury" repeated 12 times`, "fact-capital": `missing "Paris"`}, true},
		{"garbage everywhere", councilsim.FaultGarbage, nil, 2, nil, true},
		// The answers still hold what is expected; how they end fails them.
		{"endless answers", councilsim.FaultEndless, nil, 2, nil, true},
		{"a leaked template", councilsim.FaultTemplateLeak, nil, 2, nil, true},
	}
	everywhere := map[councilsim.Fault]string{
		councilsim.FaultGarbage:      "garbage",
		councilsim.FaultEndless:      `finish_reason "length", want "stop": the answer did not end within max_tokens`,
		councilsim.FaultTemplateLeak: `template leak: "<|im_end|>" in the answer`,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, false, false, func(c *councilsim.Config) {
				c.Answers = defaultAnswers(t, tt.override)
				c.Fault = tt.fault
			})
			res, evs := s.run(t)
			if res.Code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", res.Code, tt.code, res.Stdout, res.Stderr)
			}
			byID := prompts(t, evs)
			for id, e := range byID {
				want, bad := tt.failing[id]
				if w, ok := everywhere[tt.fault]; ok {
					want, bad = w, true
				}
				if e["pass"] == bad {
					t.Errorf("%s: pass %v, want %v (%v)", id, e["pass"], !bad, e["reason"])
				}
				if bad && (!strings.Contains(e["reason"].(string), want) || e["level"] != "warn") {
					t.Errorf("%s: reason %q level %v, want %q at warn", id, e["reason"], e["level"], want)
				}
				if rule := map[councilsim.Fault]string{councilsim.FaultEndless: "finish_reason", councilsim.FaultTemplateLeak: "template leak"}[tt.fault]; rule != "" {
					if got, _ := e["ending"].([]any); len(got) == 0 || got[0] != rule {
						t.Errorf("%s: ending %v, want [%s]", id, e["ending"], rule)
					}
				}
			}
			alerts := s.ff.AlertsFor(CheckParity)
			if !tt.alert {
				if len(alerts) != 0 || len(probetest.Find(evs, "parity_ok", CheckParity)) != 1 {
					t.Fatalf("tolerated failure alerted: %+v", alerts)
				}
				return
			}
			if len(alerts) != 1 || alerts[0].Severity != "error" {
				t.Fatalf("parity alerts = %+v", alerts)
			}
			for id := range tt.failing {
				if !strings.Contains(alerts[0].Message, id) {
					t.Errorf("alert does not name %s: %s", id, alerts[0].Message)
				}
			}
			if len(probetest.Find(evs, "parity_fail", CheckParity)) != 1 {
				t.Fatal("no parity_fail event")
			}
		})
	}
}

func TestE2EHungPrompt(t *testing.T) {
	s := newSetup(t, false, false, nil)
	set, _ := loadPrompts("")
	hung := set.Prompts[4]
	proxy := hangProxy(t, s.primary.PlainURL(), hung.Prompt)
	s.env = append(s.env, "COUNCIL_URL="+proxy.URL)
	res, evs := s.run(t, "--prompt-timeout", "1s")
	if res.Code != 0 {
		t.Fatalf("exit %d, want 0 (one failure tolerated)\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	for id, e := range prompts(t, evs) {
		if id == hung.ID {
			if e["pass"] != false || !strings.Contains(e["reason"].(string), "timeout after 1s") {
				t.Errorf("hung prompt: %v", e)
			}
			continue
		}
		if e["pass"] != true {
			t.Errorf("%s did not pass after the hung prompt: %v", id, e)
		}
	}
	if s.primary.Requests() != 9 {
		t.Fatalf("simulator saw %d chat requests, want the other 9", s.primary.Requests())
	}
}

func TestE2EReferenceProblems(t *testing.T) {
	t.Run("reference down is a warning, not a parity failure", func(t *testing.T) {
		s := newSetup(t, false, true, nil)
		s.ref.SetFault(councilsim.FaultDown)
		res, evs := s.run(t)
		if res.Code != 1 {
			t.Fatalf("exit %d, want 1\n%s%s", res.Code, res.Stdout, res.Stderr)
		}
		for id, e := range prompts(t, evs) {
			if e["pass"] != true || !strings.Contains(fmt.Sprint(e["reference_problem"]), "request failed") {
				t.Errorf("%s: %v", id, e)
			}
		}
		if a := s.ff.AlertsFor(CheckReference); len(a) != 1 || a[0].Severity != "warn" {
			t.Fatalf("reference alerts = %+v", a)
		}
		if a := s.ff.AlertsFor(CheckParity); len(a) != 0 {
			t.Fatalf("parity alerted for the reference's outage: %+v", a)
		}
	})
	t.Run("unsafe reference token file is unknown, primary still checked", func(t *testing.T) {
		s := newSetup(t, false, true, nil)
		os.Chmod(s.refToken, 0o644)
		res, evs := s.run(t)
		if res.Code != 3 {
			t.Fatalf("exit %d, want 3\n%s%s", res.Code, res.Stdout, res.Stderr)
		}
		if e := probetest.Find(evs, "reference_transport_error", CheckReference); len(e) != 1 || !strings.Contains(e[0]["detail"].(string), "refusing") {
			t.Fatalf("reference_transport_error = %v", e)
		}
		prompts(t, evs)
		if s.ref.Requests() != 0 {
			t.Fatal("reference was used with an unsafe token file")
		}
	})
	t.Run("wrong reference token", func(t *testing.T) {
		s := newSetup(t, false, true, nil)
		os.WriteFile(s.refToken, []byte("wrong\n"), 0o600)
		res, evs := s.run(t)
		if res.Code != 1 || !strings.Contains(fmt.Sprint(prompts(t, evs)["arith-add"]["reference_problem"]), "HTTP 401") {
			t.Fatalf("exit %d; %v", res.Code, prompts(t, evs)["arith-add"])
		}
	})
}

func TestE2EReferenceOverMTLS(t *testing.T) {
	s := newSetup(t, true, false, nil)
	ref := s.home.Sim(func(c *councilsim.Config) { c.Answers = defaultAnswers(t, nil); c.Token = refToken })
	certs := filepath.Join(s.home.Dir, ".sanctum", "certs")
	flags := []string{"--reference-url", ref.MTLSURL(), "--reference-ca-cert", filepath.Join(certs, "ca.crt"),
		"--reference-client-cert", filepath.Join(certs, "clients", "parity-smoke.crt")}
	t.Run("full cert set", func(t *testing.T) {
		res, evs := s.run(t, append(flags, "--reference-client-key", filepath.Join(certs, "clients", "parity-smoke.key"))...)
		if res.Code != 0 {
			t.Fatalf("exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
		}
		for id, e := range prompts(t, evs) {
			if e["exact"] != true {
				t.Errorf("%s: %v", id, e)
			}
		}
		if ref.Requests() != 10 {
			t.Fatalf("reference saw %d requests over mTLS", ref.Requests())
		}
	})
	t.Run("partial cert set names the missing file", func(t *testing.T) {
		res, evs := s.run(t, flags...)
		e := probetest.Find(evs, "reference_transport_error", CheckReference)
		if res.Code != 3 || len(e) != 1 || !strings.Contains(e[0]["detail"].(string), "client key (not configured)") {
			t.Fatalf("exit %d, events %v", res.Code, e)
		}
	})
}

// SIGTERM during a run ends it promptly with exit 3 (unknown), not with a
// verdict built from answers the signal cut short.
func TestE2ESIGTERM(t *testing.T) {
	s := newSetup(t, false, false, func(c *councilsim.Config) { c.Fault = councilsim.FaultHang })
	cmd := exec.Command(bin, "--prompt-timeout", "60s")
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for s.primary.Requests() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("did not stop on SIGTERM:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("exit %d, want 3\n%s", code, out.String())
	}
	evs := probetest.Events(t, s.home.LogFile(name))
	if len(probetest.Find(evs, "tick_cancelled", "")) != 1 || len(probetest.Find(evs, "parity_prompt", "")) != 0 || len(s.ff.AlertsFor(CheckParity)) != 0 {
		t.Fatalf("events after SIGTERM: %v", evs)
	}
}

func TestE2EBadPromptFile(t *testing.T) {
	s := newSetup(t, false, false, nil)
	path := filepath.Join(s.home.Dir, "prompts.json")
	os.WriteFile(path, []byte("{\"version\": 1,\n \"prompts\": [{\"id\": \"a\", \"prompt\": \"p\", \"max_tokens\": 0, \"expect\": [\"x\"]}]}"), 0o644)
	res, evs := s.run(t, "--prompts", path)
	if res.Code != 3 {
		t.Fatalf("exit %d, want 3", res.Code)
	}
	e := probetest.Find(evs, "prompts_invalid", CheckPrompts)
	if len(e) != 1 || !strings.Contains(e[0]["detail"].(string), path+":2:14: prompts[0] (a).max_tokens: is missing") {
		t.Fatalf("prompts_invalid = %v", e)
	}
	if s.primary.Requests() != 0 {
		t.Fatal("prompts sent from an invalid file")
	}
}

func TestE2ERecord(t *testing.T) {
	s := newSetup(t, false, false, nil)
	golden := filepath.Join(s.home.Dir, "golden.json")
	res, evs := s.run(t, "--record", golden)
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	set, err := loadPrompts(golden)
	if err != nil {
		t.Fatalf("recorded file is not a valid prompt file: %v", err)
	}
	answers := simAnswers(t)
	if len(set.Prompts) != 10 || !strings.Contains(set.Note, s.primary.PlainURL()) {
		t.Fatalf("recorded %d prompts, note %q", len(set.Prompts), set.Note)
	}
	for _, p := range set.Prompts {
		if p.Observed != strings.TrimSpace(answers[p.ID]) || (len(p.Expect) == 0 && p.ExpectRegex == "") {
			t.Errorf("%s: observed %q, expect %q", p.ID, p.Observed, p.Expect)
		}
	}
	if len(probetest.Find(evs, "record_written", "")) != 1 {
		t.Fatal("no record_written event")
	}
	before := readFile(golden)

	// Not replaced without --force.
	res, evs = s.run(t, "--record", golden)
	if res.Code != 3 || readFile(golden) != before || len(probetest.Find(evs, "record_refused", "")) != 1 {
		t.Fatalf("overwrite without --force: exit %d", res.Code)
	}
	// A broken backend records nothing.
	broken := filepath.Join(s.home.Dir, "broken.json")
	s.primary.SetFault(councilsim.FaultEmpty)
	if res, _ = s.run(t, "--record", broken); res.Code != 2 {
		t.Fatalf("record from a broken backend: exit %d", res.Code)
	}
	if _, err := os.Stat(broken); err == nil {
		t.Fatal("record wrote a file from a broken backend")
	}
	s.primary.SetFault(councilsim.FaultNone)
	// --dry-run prints the file instead of writing it.
	if res, _ = s.run(t, "--record", broken, "--dry-run"); res.Code != 0 || !strings.Contains(res.Stdout, `"id": "long-healthcheck"`) {
		t.Fatalf("--dry-run record: exit %d\n%s", res.Code, res.Stdout)
	}
	if _, err := os.Stat(broken); err == nil {
		t.Fatal("--dry-run wrote the record file")
	}
	if res, _ = s.run(t, "--record", golden, "--force"); res.Code != 0 {
		t.Fatalf("--force: exit %d", res.Code)
	}
	// The recorded file works as the prompt set.
	res, evs = s.run(t, "--prompts", golden)
	if res.Code != 0 || len(probetest.Find(evs, "parity_ok", CheckParity)) != 1 {
		t.Fatalf("recorded set against the same backend: exit %d\n%s", res.Code, res.Stdout)
	}
}

func runRusage(t testing.TB, env []string, bin string, args ...string) (cpu time.Duration, maxRSS int64, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("run did not finish: %s", out.String())
	}
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	ps := cmd.ProcessState
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		maxRSS = int64(ru.Maxrss) // KiB on Linux, bytes on macOS
		if runtime.GOOS == "darwin" {
			maxRSS /= 1024
		}
	}
	return ps.UserTime() + ps.SystemTime(), maxRSS, ps.ExitCode()
}

// BenchmarkRun reports, per 10-prompt run of the binary as a process, its
// own CPU (user+system, from rusage: the probe's cost outside the model)
// and its peak RSS. "bearer" asks a plain-HTTP primary and reference;
// "mtls+reference" is the nightly shape: an mTLS primary and a bearer
// reference, 20 chat requests.
func BenchmarkRun(b *testing.B) {
	b.Run("bearer", func(b *testing.B) {
		home := probetest.NewHome(b).WithToken(0o600)
		sim := home.Sim(func(c *councilsim.Config) { c.Answers = defaultAnswers(b, nil) })
		ref := home.Sim(func(c *councilsim.Config) { c.Answers = defaultAnswers(b, nil) })
		benchRuns(b, home.Env("FORCE_FLOW_URL=", "COUNCIL_URL="+sim.PlainURL(), "COUNCIL_REFERENCE_URL="+ref.PlainURL(),
			"COUNCIL_REFERENCE_TOKEN_FILE="+home.TokenFile()))
	})
	b.Run("mtls+reference", func(b *testing.B) {
		s := newSetup(b, true, true, nil)
		benchRuns(b, s.env)
	})
}

func benchRuns(b *testing.B, env []string) {
	var total time.Duration
	var peak int64
	for b.Loop() {
		cpu, maxRSS, code := runRusage(b, env, bin)
		if code != 0 {
			b.Fatalf("exit %d", code)
		}
		total += cpu
		peak = max(peak, maxRSS)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "cpu-ms/run")
	b.ReportMetric(float64(peak), "peak-rss-KiB")
}

// A model that thinks inline (a whole <think> block, or one opened by the
// chat template) is judged, compared and recorded on its visible answer:
// the reasoning differs from the reference's plain answers yet the tick
// passes, and --record writes no reasoning.
func TestE2EReasoningModel(t *testing.T) {
	const marker = "hmm-REASONING-42"
	thinking := map[string]string{}
	i := 0
	for id, a := range simAnswers(t) {
		// Glued to the first word, so the simulator's token count (and
		// max_tokens) is unchanged.
		if i%2 == 0 {
			thinking[id] = "<think>" + marker + "</think>" + a
		} else {
			thinking[id] = marker + "</think>" + a
		}
		i++
	}
	s := newSetup(t, false, false, func(c *councilsim.Config) { c.Answers = defaultAnswers(t, thinking) })
	s.useReference(t, nil)
	res, evs := s.run(t)
	if res.Code != 0 || len(probetest.Find(evs, "parity_ok", CheckParity)) != 1 {
		t.Fatalf("exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	for id, e := range prompts(t, evs) {
		if e["basis"] != "text" || e["exact"] != true || num(e, "reasoning_bytes") == 0 {
			t.Errorf("%s: basis %v exact %v reasoning_bytes %v", id, e["basis"], e["exact"], e["reasoning_bytes"])
		}
	}

	// --record records the primary alone.
	env := s.env[:0:0]
	for _, kv := range s.env {
		if !strings.HasPrefix(kv, "COUNCIL_REFERENCE_") {
			env = append(env, kv)
		}
	}
	s.env = env
	golden := filepath.Join(s.home.Dir, "golden.json")
	if res, _ := s.run(t, "--record", golden); res.Code != 0 {
		t.Fatalf("--record: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	if data := readFile(golden); strings.Contains(data, marker) || strings.Contains(data, "think>") {
		t.Fatalf("recorded file holds reasoning:\n%s", data)
	}
	set, err := loadPrompts(golden)
	if err != nil {
		t.Fatal(err)
	}
	answers := simAnswers(t)
	for _, p := range set.Prompts {
		if p.Observed != strings.TrimSpace(answers[p.ID]) {
			t.Errorf("%s: observed %q", p.ID, p.Observed)
		}
	}
}
