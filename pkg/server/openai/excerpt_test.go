package openai

import (
	"strings"
	"testing"
)

func TestExcerptRedactsAndBounds(t *testing.T) {
	const tok = testToken
	client(t, "http://127.0.0.1:1") // reads the token: registers it with redact
	tests := []struct {
		name  string
		body  string
		want  string // substring the excerpt must contain
		never string // substring it must not contain
	}{
		{"known secret", "upstream said: token " + tok + " rejected", "[redacted]", tok},
		{"echoed authorization header", `{"headers":{"Authorization":"Bearer abc.def-ghi"}}`, "Bearer [redacted]", "abc.def-ghi"},
		{"sk-shaped token", "bad key sk-live-0123456789abcdef", "[redacted]", "0123456789abcdef"},
		{"control characters and newlines flattened", "line1\n\x1b[31mline2\x00\r\n", "line1; [31mline2", "\n"},
		{"empty body", "  \n", "(empty body)", ""},
		{"long body cut", strings.Repeat("x", 1000), "…", strings.Repeat("x", ExcerptMax+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := excerpt([]byte(tc.body))
			if !strings.Contains(got, tc.want) {
				t.Errorf("excerpt = %q, want it to contain %q", got, tc.want)
			}
			if tc.never != "" && strings.Contains(got, tc.never) {
				t.Errorf("excerpt = %q, must not contain %q", got, tc.never)
			}
			if len(got) > ExcerptMax {
				t.Errorf("excerpt is %d bytes, over the %d bound", len(got), ExcerptMax)
			}
		})
	}
}
