package pace

import (
	"strings"
	"testing"
)

// TestBuildPrompt: the prompt starts with the nonce, has about the asked
// number of words, and asks for a count (the simulator answers a count
// only when asked with "count from 1").
func TestBuildPrompt(t *testing.T) {
	for _, n := range []int{minPromptTokens, defaultPromptTokens, 2000} {
		p := buildPrompt("00112233aabbccdd", n)
		if !strings.HasPrefix(p, "Request 00112233aabbccdd.") {
			t.Errorf("prompt does not begin with the nonce: %.40q", p)
		}
		if got := len(strings.Fields(p)); got < n || got > n+1 {
			t.Errorf("prompt of %d words, want about %d", got, n)
		}
		if !strings.Contains(strings.ToLower(p), "count from 1") {
			t.Error("prompt does not ask to count from 1")
		}
	}
	if a, b := newNonce(), newNonce(); a == b || len(a) != 16 {
		t.Errorf("nonces %q %q: want 16 hex digits, different each time", a, b)
	}
}
