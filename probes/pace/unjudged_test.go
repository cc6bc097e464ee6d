package pace

import "testing"

func TestUnjudgedReasons(t *testing.T) {
	u := unjudged{Why: map[string]int{whyImplausible: 1, whyBusyMetrics: 5, whyBusyLog: 2}}
	if got, want := u.reasons(), "5 busy from the server's metrics, 2 busy from the primary's log, 1 implausible token counts"; got != want {
		t.Errorf("reasons = %q, want %q", got, want)
	}
}
