package pace

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/probe"
)

// unjudgedKey holds the run of samples not judged.
const unjudgedKey = "unjudged"

// Why a sample was not judged, as the not_judged channel says it.
const (
	whyBusyMetrics = "busy from the server's metrics"
	whyBusyLog     = "busy from the primary's log"
	whyBusyCPU     = "busy from the primary's CPU"
	whyImplausible = "implausible token counts"
)

// unjudged is the current run of consecutive samples that were taken but
// not judged, and why. Learning and skipped samples neither extend nor
// end it: a warmup is short, and a server that cannot answer is the
// guardian's and the canary's business.
type unjudged struct {
	Count int            `json:"count"`
	Why   map[string]int `json:"why,omitempty"`
	// Last is the last unjudged sample's own detail.
	Last string `json:"last,omitempty"`
}

// noteJudgement feeds the not_judged channel: a judged sample ends the run
// (and recovers the channel); a sample not judged for why extends it, and
// once it reaches --max-unjudged the channel warns. A server whose
// /metrics always reports a deferred request (a stuck slot looks exactly
// like that) is otherwise "busy, not judged" forever, exit 0.
func noteJudgement(t *probe.Tick, s settings, judged bool, why, detail string) {
	if s.MaxUnjudged <= 0 {
		return
	}
	var u unjudged
	if _, err := t.State.Get(unjudgedKey, &u); err != nil {
		t.Log.Warn("state_reset", "check", CheckNotJudged, "error", err.Error())
		u = unjudged{}
	}
	switch {
	case judged:
		u = unjudged{}
		t.PassQuiet(CheckNotJudged)
	case why != "":
		u.Count++
		if u.Why == nil {
			u.Why = map[string]int{}
		}
		u.Why[why]++
		u.Last = detail
		if u.Count >= s.MaxUnjudged {
			t.Fail(CheckNotJudged, "not_judged", alert.Warn,
				fmt.Sprintf("%d samples in a row were taken but not judged (%s; --max-unjudged %d); last: %s",
					u.Count, u.reasons(), s.MaxUnjudged, detail),
				"unjudged", u.Count)
		}
	default:
		return
	}
	if err := t.State.Put(unjudgedKey, u); err != nil {
		t.Log.Warn("state_error", "key", unjudgedKey, "error", err.Error())
	}
}

// reasons is "5 busy from the server's metrics, 3 implausible token
// counts", most frequent first.
func (u unjudged) reasons() string {
	whys := slices.Sorted(maps.Keys(u.Why))
	slices.SortStableFunc(whys, func(a, b string) int { return u.Why[b] - u.Why[a] })
	parts := make([]string, len(whys))
	for i, w := range whys {
		parts[i] = fmt.Sprintf("%d %s", u.Why[w], w)
	}
	return strings.Join(parts, ", ")
}
