package openai

import "testing"

func TestVisible(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "4", "4"},
		{"empty", "", ""},
		{"closed think block", "<think>2+2 is 4</think>5", "5"},
		{"multi-line think block", "<think>\nlet me see\n4\n</think>\n\n4", "\n\n4"},
		{"unclosed think block (max_tokens ran out)", "<think>2+2... it is 4", ""},
		{"two blocks", "<think>a</think>4<think>b</think>", "4"},
		{"think opened by the chat template", "2+2 is 4, so</think>5", "5"},
		{"template-opened think, multi-line", "\nlet me see: 4\n</think>\n\n4", "\n\n4"},
		{"template-opened think, closed twice", "a</think>b</think>5", "5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := Visible(tc.in)
			if got != tc.want {
				t.Errorf("Visible(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if cut != len(tc.in)-len(tc.want) {
				t.Errorf("Visible(%q) cut %d bytes, want %d", tc.in, cut, len(tc.in)-len(tc.want))
			}
		})
	}
}
