package pace

import (
	"strings"
	"testing"
)

func TestImplausible(t *testing.T) {
	s := settings{DecodeTokens: 128}
	for _, tc := range []struct {
		name    string
		m       measured
		wantSub string // "" = plausible
	}{
		{"usage equals the events", measured{CompletionTokens: 128, TokenEvents: 128}, ""},
		{"usage within 2x of the events", measured{CompletionTokens: 100, TokenEvents: 60}, ""},
		{"counted by the client", measured{CompletionTokens: 500, TokenEvents: 500, TokensCounted: true}, ""},
		{"two billion tokens", measured{CompletionTokens: 2_000_000_000, TokenEvents: 20}, "more than the max_tokens 128"},
		{"one more than max_tokens", measured{CompletionTokens: 129, TokenEvents: 128}, "more than the max_tokens"},
		{"usage far above the events", measured{CompletionTokens: 100, TokenEvents: 40}, "40 token events"},
		{"usage far below the events", measured{CompletionTokens: 10, TokenEvents: 40}, "more than 2x off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := implausible(s, tc.m)
			if (got == "") != (tc.wantSub == "") || !strings.Contains(got, tc.wantSub) {
				t.Errorf("implausible = %q, want %q", got, tc.wantSub)
			}
		})
	}
}
