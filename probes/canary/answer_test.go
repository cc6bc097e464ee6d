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

// TestAnswerRules: with the default --expect, the answer to "Respond with
// only the number" must also be short, whole and first say 4; each broken
// rule is named. Another --expect is judged by its regexp alone.
func TestAnswerRules(t *testing.T) {
	ramble := "the 17 cats 4 of 9 and then 31 more words go on and on"
	for _, tc := range []struct {
		name, answer, finish, expect string
		rule                         string // "" passes
	}{
		{"the number", "4", "stop", "", ""},
		{"a sentence", "The answer is 4.", "stop", "", ""},
		{"the question echoed", "2 + 2 = 4", "stop", "", ""},
		{"the question echoed tight", "2+2=4", "stop", "", ""},
		{"eight words", "The sum of 2 and 2 is 4.", "stop", "", ""},
		{"no finish reason said", "4", "", "", ""},
		{"a ramble cut by max_tokens, with a 4 in it (the real Ollama case)", "17 4 9 31 cats 4 and", "length", "", ruleCut},
		{"a short answer cut anyway", "4", "length", "", ruleCut},
		{"a long ramble that stopped", ramble, "stop", "", ruleLong},
		{"another number first", "17, not 4", "stop", "", ruleFirstNumber},
		{"a decimal first", "4.5 or 4", "stop", "", ruleFirstNumber},
		{"no 4 at all", "5", "stop", "", ruleExpect},
		{"14", "14", "stop", "", ruleExpect},
		{"another --expect: its regexp alone", ramble, "length", `cats`, ""},
		{"another --expect that fails", "dogs", "stop", `cats`, ruleExpect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect := defaultExpect
			if tc.expect != "" {
				expect = tc.expect
			}
			c := &canary{Prompt: defaultPrompt, Expect: regexp.MustCompile(expect), MaxTokens: 256, MaxWords: defaultMaxAnswerWords}
			res := newResult(false)
			res.Answer, res.FinishReason = tc.answer, tc.finish
			c.judge(&res)
			if res.Rule != tc.rule || (tc.rule == "") != res.OK() || (tc.rule != "" && res.Check != CheckWrongAnswer) {
				t.Fatalf("judge(%q, %s) = check %q rule %q (%s), want rule %q", tc.answer, tc.finish, res.Check, res.Rule, res.Detail, tc.rule)
			}
		})
	}
}

func TestFirstNumber(t *testing.T) {
	for in, want := range map[string]string{"4": "4", "2+2=4": "4", "2 + 2 is 4": "4", "It is 4.0": "4.0", "1,4": "1,4", "none": "", "17 then 4": "17"} {
		if got := firstNumber(in); got != want {
			t.Errorf("firstNumber(%q) = %q, want %q", in, got, want)
		}
	}
}
