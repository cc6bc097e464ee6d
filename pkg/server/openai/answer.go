// What counts as the answer of a chat completion: the message content
// without the model's reasoning.
//
// Reasoning is never the answer. A server that splits it out puts it in a
// reasoning_content (or reasoning) field beside the content; callers measure
// that field and never judge it. A server that does not leaves it inline in
// the content, as a <think>...</think> block, which Visible cuts:
//
//   - every <think>...</think> block, and an unclosed <think> to the end of
//     the content (max_tokens ran out mid-thought);
//   - then, if a "</think>" is left without its opening tag, everything up
//     to and including the LAST one: chat templates that open the block in
//     the prompt (DeepSeek-R1 style) make the output start inside it.
//
// So "<think>2+2 is 4</think>5" and "2+2 is 4</think>5" both answer "5".

package openai

import (
	"regexp"
	"strings"
)

var thinkBlock = regexp.MustCompile(`(?s)<think>.*?(?:</think>|$)`)

const closeTag = "</think>"

// Visible returns content without its inline reasoning, and how many bytes
// of reasoning were cut (0 when content had none: answer == content).
func Visible(content string) (answer string, reasoningBytes int) {
	answer = thinkBlock.ReplaceAllString(content, "")
	if i := strings.LastIndex(answer, closeTag); i >= 0 {
		answer = answer[i+len(closeTag):]
	}
	return answer, len(content) - len(answer)
}
