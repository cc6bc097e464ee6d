package councilsim

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Pace is how fast the simulator pretends to generate, so a probe that
// measures speed (council-pace) sees a server that is slow on purpose, and a
// test or the demo can make it slower at run time:
//
//   - TTFT delays the first content token (streamed: after the role chunk,
//     which a real server also sends before prefill ends; JSON: the whole
//     response waits TTFT plus the decode time);
//   - TokenDelay delays every later token, so a client measuring decode
//     speed as (completion_tokens - 1) / (last token - first token) reads
//     1/TokenDelay tokens per second;
//   - Fingerprint, when set, is the system_fingerprint of every response.
//
// The zero Pace answers as fast as it can, as the simulator always did.
type Pace struct {
	TTFT        time.Duration
	TokenDelay  time.Duration
	Fingerprint string
}

// CountingPrompt is what a prompt must contain (case-insensitively) to get a
// counting answer: "1 2 3 …", one token per number, as long as max_tokens
// allows (CountingDefault numbers without max_tokens, finish_reason "stop").
// It is the long, easy answer a speed probe asks for; counting is used
// because any real model can do it at temperature 0 without thinking.
const CountingPrompt = "count from 1"

// CountingDefault is how far the simulator counts when max_tokens is unset.
const CountingDefault = 256

// Token counts are the simulator's own, not a real tokenizer's: a token is a
// run of non-space characters with the white space before it (see Tokenize),
// so usage.prompt_tokens is the number of words of all messages. A real
// tokenizer gives about 1.3 tokens per English word, and one per number of
// a count; the simulator's counts are an approximation a probe may rely on
// being stable, not exact.

// SetPace sets the simulator's pace; negative delays count as zero.
func (s *Sim) SetPace(p Pace) {
	p.TTFT, p.TokenDelay = max(p.TTFT, 0), max(p.TokenDelay, 0)
	s.mu.Lock()
	s.pace = p
	s.mu.Unlock()
}

// Pace returns the simulator's pace.
func (s *Sim) Pace() Pace {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pace
}

// isCounting reports whether prompt asks for a count.
func isCounting(prompt string) bool {
	return strings.Contains(strings.ToLower(prompt), CountingPrompt)
}

// countingTokens counts from 1 to n, one token per number ("1", " 2", …).
func countingTokens(n int) []string {
	out := make([]string, n)
	for i := range out {
		if i == 0 {
			out[i] = "1"
			continue
		}
		out[i] = " " + strconv.Itoa(i+1)
	}
	return out
}

// answerTokens is the fault-free answer to prompt, as tokens: a count for a
// counting prompt, the codes for a needle prompt (NeedlePrompt), else the
// scripted answer. A count is one token longer
// than limit, so the caller's max_tokens cut ends it with finish_reason
// "length" as a real model's would; without a limit it ends at
// CountingDefault.
func (s *Sim) answerTokens(prompt string, limit int) []string {
	if isCounting(prompt) {
		if limit <= 0 {
			return countingTokens(CountingDefault)
		}
		return countingTokens(limit + 1)
	}
	if a, ok := needleAnswer(prompt); ok {
		return Tokenize(a)
	}
	return Tokenize(s.Answer(prompt))
}

// waitToken waits before token i of an answer: TTFT before the first, the
// token delay before each later one. It reports false when the client gave
// up or the simulator closed meanwhile.
func (s *Sim) waitToken(ctx context.Context, p Pace, i int) bool {
	d := p.TokenDelay
	if i == 0 {
		d = p.TTFT
	}
	if d <= 0 {
		return true
	}
	return s.sleep(ctx, d)
}

// waitAnswer waits as long as streaming n tokens would take, for a JSON
// answer: TTFT plus n-1 token delays.
func (s *Sim) waitAnswer(ctx context.Context, p Pace, n int) bool {
	d := p.TTFT
	if n > 1 {
		d += time.Duration(n-1) * p.TokenDelay
	}
	if d <= 0 {
		return true
	}
	return s.sleep(ctx, d)
}

// applyPace sets the pace fields present in a control request, in one
// step, so two control requests never lose each other's change.
func (s *Sim) applyPace(req FaultRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.TTFT != nil {
		s.pace.TTFT = max(time.Duration(*req.TTFT), 0)
	}
	if req.TokenDelay != nil {
		s.pace.TokenDelay = max(time.Duration(*req.TokenDelay), 0)
	}
	if req.Fingerprint != nil {
		s.pace.Fingerprint = *req.Fingerprint
	}
}
