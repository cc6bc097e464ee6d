package pace

import "fmt"

// implausible says why the server's token count of m cannot be believed
// ("" when it can): more tokens than max_tokens allowed, or a count more
// than 2x off the token events that arrived. Such a sample measures the
// server's arithmetic, not its speed: it is logged with both numbers and
// never judged or learned (a usage of two billion tokens was once learned
// as a decode of 2e10 tok/s). A count the client made itself (no usage
// chunk) is the events, and always plausible.
func implausible(s settings, m measured) string {
	if m.TokensCounted {
		return ""
	}
	switch n, ev := m.CompletionTokens, m.TokenEvents; {
	case n > s.DecodeTokens:
		return fmt.Sprintf("the server says it generated %d tokens, more than the max_tokens %d it was asked for", n, s.DecodeTokens)
	case ev > 0 && (n > 2*ev || 2*n < ev):
		return fmt.Sprintf("the server says it generated %d tokens, but %d token events arrived (more than 2x off)", n, ev)
	}
	return ""
}
