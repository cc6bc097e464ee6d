package canary

import (
	"regexp"
	"strings"
	"testing"
)

func TestDefaultExpect(t *testing.T) {
	re := regexp.MustCompile(defaultExpect)
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
