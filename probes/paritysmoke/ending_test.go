package paritysmoke

import (
	"strings"
	"testing"
)

// TestEnding: each ending rule fails its fault and passes a healthy
// answer, and names itself in the reason.
func TestEnding(t *testing.T) {
	stop := prompt{ID: "p", MaxTokens: 16}
	long := prompt{ID: "l", MaxTokens: 16, FinishReason: finishLength}
	anyEnd := prompt{ID: "a", MaxTokens: 16, FinishReason: finishAny}
	sentence := "The river runs past the old mill and into the sea. "
	tests := []struct {
		name string
		p    prompt
		a    answer
		want []string // substrings of the reason; none = passes
	}{
		{"stop, as asked", stop, answer{Text: "Paris.", FinishReason: "stop"}, nil},
		{"cut by max_tokens", stop, answer{Text: "Paris. 1 2 3 4", FinishReason: "length"},
			[]string{`finish_reason "length", want "stop": the answer did not end within max_tokens (16)`}},
		{"no finish_reason", stop, answer{Text: "Paris.", FinishReason: ""}, []string{`finish_reason: none, want "stop"`}},
		{"another reason", stop, answer{Text: "Paris.", FinishReason: "content_filter"}, []string{`finish_reason "content_filter", want "stop"`}},
		{"length, as the prompt asks", long, answer{Text: "1 2 3", FinishReason: "length"}, nil},
		{"stop where length is asked", long, answer{Text: "1 2 3", FinishReason: "stop"}, []string{`want "length"`}},
		{"any", anyEnd, answer{Text: "1 2 3", FinishReason: "length"}, nil},
		{"ChatML end", stop, answer{Text: "Paris.<|im_end|>", FinishReason: "stop"}, []string{`template leak: "<|im_end|>" in the answer`}},
		{"ChatML next turn", stop, answer{Text: "Paris.\n<|im_start|>user\nthanks", FinishReason: "stop"}, []string{`template leak: "<|im_start|>"`}},
		{"Llama 3", stop, answer{Text: "Paris<|eot_id|>", FinishReason: "stop"}, []string{`"<|eot_id|>"`}},
		{"end of sequence", stop, answer{Text: "Paris</s>", FinishReason: "stop"}, []string{`"</s>"`}},
		{"a Human turn", stop, answer{Text: "Paris.\n\nHuman: and Rome?", FinishReason: "stop"}, []string{`template leak: a new turn "Human:"`}},
		{"a User turn", stop, answer{Text: "Paris.\nUser: more", FinishReason: "stop"}, []string{`a new turn "User:"`}},
		{"user inside a sentence is fine", stop, answer{Text: "The user: a person who asks.", FinishReason: "stop"}, nil},
		{"one token looping", stop, answer{Text: strings.Repeat("the ", 20), FinishReason: "stop"}, []string{`loop: "the" repeated 20 times`}},
		{"a short loop", stop, answer{Text: strings.Repeat("I am. ", 9), FinishReason: "stop"}, []string{`loop: "I am ." repeated 9 times`}},
		{"seven short repeats are tolerated", stop, answer{Text: strings.Repeat("yes ", 7), FinishReason: "stop"}, nil},
		{"a sentence looping", stop, answer{Text: "Sure. " + strings.Repeat(sentence, 4), FinishReason: "stop"}, []string{`loop: "`, `" repeated 4 times`}},
		{"a sentence said three times is tolerated", stop, answer{Text: strings.Repeat(sentence, 3), FinishReason: "stop"}, nil},
		{"a markdown rule is not a loop", stop, answer{Text: "| a | b |\n|---|---|\n| 1 | 2 |\n\n----------------\n", FinishReason: "stop"}, nil},
		{"a count is not a loop", stop, answer{Text: "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", FinishReason: "stop"}, nil},
		{"a leak in a short answer is a leak, not garbage", stop, answer{Text: "4<|im_end|>", FinishReason: "stop"}, []string{"template leak"}},
		{"all at once, each named", stop, answer{Text: strings.Repeat("go ", 10) + "<|im_end|>", FinishReason: "length"},
			[]string{"finish_reason", "template leak", "loop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ending(tt.p, tt.a)
			if len(tt.want) == 0 && got != "" {
				t.Fatalf("ending = %q, want it to pass", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("ending = %q, want %q in it", got, w)
				}
			}
		})
	}
}

// A reference or a recording is held to the shape of its answer, not to
// its finish_reason.
func TestUsableShape(t *testing.T) {
	if why := usableShape(answer{Text: "Paris", FinishReason: "length"}); why != "" {
		t.Errorf("a cut answer is still usable as a reference: %q", why)
	}
	if why := usableShape(answer{Text: "Paris<|im_end|>"}); !strings.Contains(why, "template leak") {
		t.Errorf("leak: %q", why)
	}
	if why := usableShape(answer{Text: strings.Repeat("la ", 30)}); !strings.Contains(why, "loop") {
		t.Errorf("loop: %q", why)
	}
}
