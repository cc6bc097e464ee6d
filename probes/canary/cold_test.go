package canary

import (
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

// TestColdModelGetsTheLoadAllowance: the simulator plays an Ollama whose
// model was unloaded (its keep-alive is shorter than the canary's
// interval); the question loads it, longer than the canary's limits. With
// the allowance the canary passes and says the model was cold; before, it
// was a hang. A generic server, which cannot say, keeps its limits.
func TestColdModelGetsTheLoadAllowance(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(mode(stream), func(t *testing.T) {
			f := newFixtureSim(t, false, func(c *councilsim.Config) {
				c.Personality = councilsim.PersonalityConfig{Personality: councilsim.PersonalityOllama,
					BackendFault: councilsim.BackendFaultCold, LoadTime: 2 * time.Second}
			}, "--deadline", "1s", "--ttfb-timeout", "1s", "--load-allowance", "20s")
			args := []string{}
			if stream {
				args = append(args, "--stream")
			}
			res, evs := f.run(t, args...)
			ev := one(t, evs, "canary_ok", CheckWrongAnswer)
			if res.Code != 0 || ev["cold"] != true || ev["load_allowance_ms"] != float64(20000) {
				t.Fatalf("exit %d, event %v\nstdout %s", res.Code, ev, res.Stdout)
			}
			if !strings.Contains(res.Stdout, "the model was not loaded: 20s allowed to load it") {
				t.Errorf("summary %q", res.Stdout)
			}
			// Loaded now: the next question is warm, and says nothing of it.
			_, evs = f.run(t, args...)
			if ev := one(t, evs, "canary_ok", CheckWrongAnswer); ev["cold"] != nil {
				t.Errorf("a warm question says cold: %v", ev)
			}
			f.finalChecks(t)
		})
	}
	t.Run("cold and still too slow", func(t *testing.T) {
		f := newFixtureSim(t, false, func(c *councilsim.Config) {
			c.Personality = councilsim.PersonalityConfig{Personality: councilsim.PersonalityOllama,
				BackendFault: councilsim.BackendFaultCold, LoadTime: 5 * time.Second}
		}, "--deadline", "1s", "--ttfb-timeout", "1s", "--load-allowance", "1s")
		_, evs := f.run(t)
		ev := one(t, evs, "canary_fail", CheckHang)
		if d, _ := ev["detail"].(string); !strings.Contains(d, "the limits included a 1s allowance to load it") {
			t.Errorf("hang detail %q", ev["detail"])
		}
	})
}
