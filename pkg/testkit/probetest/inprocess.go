package probetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/probe"
)

// RunInProcess runs one tick of p in this process, as its binary would
// with args, in a throwaway $HOME (set with t.Setenv: not for parallel
// tests), in dry-run mode, delivering nothing, with its events on stdout.
// A network probe is told its server is generic, so nothing asks the
// server what it is before the tick. It returns the exit code and the
// tick's events; what a tick that got past its settings does next (ask
// the server at --url) is the caller's business.
func RunInProcess(t testing.TB, p *probe.Probe, args ...string) InProcess {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	var out, errb bytes.Buffer
	p.Stdout, p.Stderr = &out, &errb
	argv := []string{p.Binary(), "--log-file", "-", "--dry-run", "--force-flow-url", ""}
	if p.Network {
		argv = append(argv, "--backend", "generic")
	}
	res := InProcess{Code: p.Run(append(argv, args...)), Stderr: errb.String()}
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: stdout line is not JSON: %q\nstderr: %s", p.Binary(), sc.Text(), errb.String())
		}
		res.Events = append(res.Events, m)
	}
	return res
}

// InProcess is what RunInProcess saw: the exit code, the events and
// stderr (where a subcommand's error goes).
type InProcess struct {
	Code   int
	Events []map[string]any
	Stderr string
}

// SettingsError is the error a tick stopped on before its checks, as its
// events say: the probe_error event's error, or the detail of an UNKNOWN
// on the config channel (the probes that report a bad setting there).
// Empty when there was neither.
func (r InProcess) SettingsError() string {
	for _, e := range r.Events {
		switch {
		case e["event"] == "probe_error":
			s, _ := e["error"].(string)
			return s
		case e["event"] == "config_error" && e["check"] == probe.CheckConfig:
			s, _ := e["detail"].(string)
			return s
		}
	}
	return ""
}

// Refusal is one bad setting and the words the tick must refuse it with.
type Refusal struct {
	Args []string
	Want string
}

// RefusesSettings runs one in-process tick of a fresh probe per case (a
// subtest named by its arguments) and fails unless the tick stopped
// UNKNOWN on exactly the case's words.
func RefusesSettings(t *testing.T, newProbe func() *probe.Probe, cases []Refusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(strings.Join(tc.Args, " "), func(t *testing.T) {
			r := RunInProcess(t, newProbe(), tc.Args...)
			if got := r.SettingsError(); r.Code != probe.ExitUnknown || got != tc.Want {
				t.Fatalf("exit %d, error %q; want exit 3, %q", r.Code, got, tc.Want)
			}
		})
	}
}
