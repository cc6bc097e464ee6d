package integration

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

// A hostile server and the strings it controls: every string that came
// from the server (an answer, a model id) is redacted before it is logged,
// stored or sent; a URL's password is never printed; a server that refuses
// our credentials is our fault, not a dead server; and an SSE stream with
// bare-CR line endings is a stream. Each cell's leak check is the matrix's
// own (runCell looks for the planted token in every output, file, alert and
// launchctl call); the URL cell looks for the password the same way.

const (
	fEchoToken       = "server echoes the token"
	fEchoTokenStream = "server echoes the token (--stream)"
	fURLPassword     = "--url with a password"
	fAuthRefused     = "models 401 (token refused)"
	fSSEBareCR       = "SSE bare-CR line endings"
)

func init() {
	register("guardian", []string{fEchoToken, fURLPassword, fAuthRefused}, guardianRedactCells)
	register("canary", []string{fEchoToken, fEchoTokenStream, fSSEBareCR}, canaryRedactCells)
	register("parity-smoke", []string{fEchoToken}, parityRedactCells)
}

// urlPassword is the password planted in --url.
const urlPassword = "urlpass-PLANTED-9c1e"

// withPassword returns raw with user "probe" and urlPassword as user info.
func withPassword(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("probe", urlPassword)
	return u.String()
}

// found lists where s occurs: the outputs, the files under the home, the
// alerts and the launchctl calls (the places the token leak check reads).
func found(w *world, s string) []string {
	var where []string
	for i, o := range w.outs {
		if strings.Contains(o, s) {
			where = append(where, fmt.Sprintf("output #%d", i))
		}
	}
	if b, err := json.Marshal(w.ff.Alerts()); err == nil && strings.Contains(string(b), s) {
		where = append(where, "alerts")
	}
	if strings.Contains(strings.Join(w.ld.Calls(), "\n"), s) {
		where = append(where, "launchctl calls")
	}
	filepath.WalkDir(w.home.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), s) {
			where = append(where, p)
		}
		return nil
	})
	return where
}

func guardianRedactCells() []cell {
	return []cell{
		{fault: fEchoToken, sim: fault(councilsim.FaultEchoAuth), args: []string{"--model", "council-70b"},
			want: want{code: 1, event: "probe_fail", check: "unreachable",
				then: func(t *testing.T, w *world) {
					// The mismatch message names the listed ids: the echo is
					// there, masked.
					evs := findEvents(w.events(), "probe_fail", "unreachable")
					if d, _ := evs[0]["detail"].(string); !strings.Contains(d, "Bearer [redacted]") {
						t.Errorf("the model mismatch should list the echoed id, masked: %q", d)
					}
				}},
			note: "the --model mismatch lists the server's ids with the echoed token masked"},
		{fault: fURLPassword, sim: fault(councilsim.Fault500),
			setup: func(t *testing.T, w *world) {
				w.args = append(w.args, "--url", withPassword(t, w.sim.PlainURL()))
			},
			want: want{code: 1, event: "probe_fail", check: "unreachable",
				then: func(t *testing.T, w *world) {
					if l := found(w, urlPassword); len(l) > 0 {
						t.Errorf("the --url password was written to %v", l)
					}
					evs := findEvents(w.events(), "probe_fail", "unreachable")
					if u, _ := evs[0]["url"].(string); !strings.Contains(u, "probe:xxxxx@") {
						t.Errorf("url attribute %q, want the password masked as probe:xxxxx@", u)
					}
				}},
			note: "the URL is printed with its password masked (probe_fail url and detail)"},
		{fault: fAuthRefused, sim: func(c *councilsim.Config) { c.Token = "the-server-wants-another-token" }, ticks: 4,
			want: want{code: 3, event: "auth_refused", check: "auth", alert: delivered,
				then: func(t *testing.T, w *world) {
					if hasCall(w.ld.Calls(), "kickstart") {
						t.Errorf("a refused token restarted the primary: launchctl calls %q", w.ld.Calls())
					}
					if n := len(findEvents(w.events(), "probe_fail", "unreachable")); n != 0 {
						t.Errorf("a refused token was counted as unreachable %d time(s):\n%s", n, dumpEvents(w.events()))
					}
					if n := len(w.ff.AlertsFor("auth")); n != 1 {
						t.Errorf("want one auth alert over 4 ticks (threshold 1, cooldown), got %d: %+v", n, w.ff.Alerts())
					}
				}},
			note: "UNKNOWN on the auth channel, alerted once; never counted as unreachable, never restarted"},
	}
}

func canaryRedactCells() []cell {
	echo := func(name string, args ...string) cell {
		return cell{fault: name, sim: fault(councilsim.FaultEchoAuth), ticks: 2, args: args,
			want: failing(2, "canary_fail", "wrong_answer"),
			note: "the echoed token in the answer and the model id is masked in the event, state and alert"}
	}
	return []cell{
		echo(fEchoToken),
		echo(fEchoTokenStream, "--stream"),
		{fault: fSSEBareCR, sim: fault(councilsim.FaultSSECR), args: []string{"--stream"},
			want: ok("canary_ok", "wrong_answer"),
			note: "CR, LF and CRLF all end an SSE line"},
	}
}

func parityRedactCells() []cell {
	return []cell{
		{fault: fEchoToken, sim: fault(councilsim.FaultEchoAuth), want: failing(2, "parity_fail", "parity"),
			note: "parity_start's model and the answers are masked"},
	}
}
