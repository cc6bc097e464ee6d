package canary

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDefaultExpect(t *testing.T) {
	re := regexp.MustCompile(DefaultExpect)
	tests := []struct {
		answer string
		pass   bool
	}{
		{"4", true},
		{"4.", true},
		{" 4\n", true},
		{"The answer is 4", true},
		{"The answer is 4.", true},
		{"**4**", true},
		{"2+2=4", true},
		{"2 + 2 = 4", true},
		{"4.0", true},
		{"\"4\"", true},
		{"<answer>4</answer>", true},
		{"4, obviously", true},
		{"Four: 4", true},
		{"14", false},
		{"40", false},
		{"44", false},
		{"400", false},
		{"4.5", false},
		{"0.4", false},
		{".4", false},
		{"4,5", false},
		{"1,4", false},
		{"4th", false},
		{"x4", false},
		{"5", false},
		{"four", false},
		{"", false},
		{"   ", false},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.answer, "\n", `\n`), func(t *testing.T) {
			if got := re.MatchString(tc.answer); got != tc.pass {
				t.Errorf("match(%q) = %v, want %v", tc.answer, got, tc.pass)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
		cut      bool
	}{
		{"short", "4", 10, "4", false},
		{"exact", "abcd", 4, "abcd", false},
		{"cut", "abcdef", 4, "abcd…", true},
		{"cut inside a rune backs off", "ab€", 3, "ab…", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := truncate(tc.in, tc.n)
			if got != tc.want || cut != tc.cut {
				t.Errorf("truncate(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, got, cut, tc.want, tc.cut)
			}
			if !utf8.ValidString(got) {
				t.Errorf("truncate produced invalid UTF-8 %q", got)
			}
		})
	}
}

func TestExcerptRedactsAndBounds(t *testing.T) {
	const tok = "sk-council-PLANTED-token-7d41f0"
	tests := []struct {
		name    string
		body    string
		secrets []string
		want    string // substring the excerpt must contain
		never   string // substring it must not contain
	}{
		{"known secret", "upstream said: token " + tok + " rejected", []string{tok}, "[redacted]", tok},
		{"echoed authorization header", `{"headers":{"Authorization":"Bearer abc.def-ghi"}}`, nil, "Bearer [redacted]", "abc.def-ghi"},
		{"sk-shaped token", "bad key sk-live-0123456789abcdef", nil, "[redacted]", "0123456789abcdef"},
		{"control characters and newlines flattened", "line1\n\x1b[31mline2\x00\r\n", nil, "line1 [31mline2", "\n"},
		{"empty body", "  \n", nil, "(empty body)", ""},
		{"long body cut", strings.Repeat("x", 1000), nil, "…", strings.Repeat("x", excerptMax+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := excerpt([]byte(tc.body), tc.secrets)
			if !strings.Contains(got, tc.want) {
				t.Errorf("excerpt = %q, want it to contain %q", got, tc.want)
			}
			if tc.never != "" && strings.Contains(got, tc.never) {
				t.Errorf("excerpt = %q, must not contain %q", got, tc.never)
			}
			if len(got) > excerptMax+len("…") {
				t.Errorf("excerpt is %d bytes, over the %d bound", len(got), excerptMax)
			}
		})
	}
}

func TestPassedBefore(t *testing.T) {
	tests := []struct {
		check  string
		stream bool
		want   string
	}{
		{CheckUnreachable, false, ""},
		{CheckHang, false, "unreachable"},
		{CheckBadResponse, false, "unreachable hang http_error"},
		{CheckWrongAnswer, false, "unreachable hang http_error bad_response"},
		{CheckStreamStall, true, "unreachable hang http_error"},
		{CheckBadResponse, true, "unreachable hang http_error stream_stall"},
		{CheckWrongAnswer, true, "unreachable hang http_error stream_stall bad_response"},
	}
	for _, tc := range tests {
		t.Run(tc.check+"/"+mode(tc.stream), func(t *testing.T) {
			if got := strings.Join(passedBefore(tc.check, tc.stream), " "); got != tc.want {
				t.Errorf("passedBefore = %q, want %q", got, tc.want)
			}
		})
	}
}
