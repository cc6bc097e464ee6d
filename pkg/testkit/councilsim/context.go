package councilsim

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The simulator's context window, and the faults of how a server handles
// a prompt or an answer that outgrows it, or an answer that does not end.
//
// Every request gets ContextWindow tokens (the simulator's tokens, see
// Tokenize). The personalities report it where the real server does:
// Ollama's /api/ps context_length, llama-server's /props n_ctx, vLLM's
// /v1/models max_model_len. A prompt longer than the window is refused
// with llama-server's 400 and its log line, as an honest server does:
//
//	srv    send_error: task id = 7, error: request (5274 tokens) exceeds the available context size (4096 tokens), try increasing it
//
// unless FaultTruncate makes the simulator cut it silently, as Ollama does
// (answer 200, usage.prompt_tokens capped at the window, the first
// TruncateKeep tokens and the tail kept, and only a WARN in its log):
//
//	time=2026-12-07T03:30:01.123Z level=WARN source=runner.go:153 msg="truncating input prompt" limit=4096 prompt=25933 keep=4 new=4096
//
// An answer that runs past the window (prompt plus answer longer than it)
// shifts the context, and the server logs it as llama-server does:
//
//	slot update_slots: id  0 | task 7 | slot context shift, n_keep = 1, n_left = 4094, n_discard = 2047
//
// The lines go to the access log, the simulator's one log.
const (
	// FaultTruncate: a prompt over the window is cut silently (above).
	FaultTruncate Fault = "truncate"
	// FaultContextShift: every chat request also logs a context shift, as
	// a server whose other clients hold long conversations does.
	FaultContextShift Fault = "context_shift"
	// FaultEndless: the answer does not end: after the scripted answer the
	// model goes on counting (" 1 2 3 ..."), so every answer runs to
	// max_tokens with finish_reason "length", as a model that lost its
	// end-of-turn token after an upgrade does.
	FaultEndless Fault = "endless"
	// FaultTemplateLeak: the answer ends with the chat template's special
	// tokens and the start of a made-up next turn
	// ("<|im_end|>\n<|im_start|>user\n..."), finish_reason "stop", as a
	// server whose template or stop tokens changed does.
	FaultTemplateLeak Fault = "template_leak"
)

func init() {
	Faults = append(Faults, FaultTruncate, FaultContextShift, FaultEndless, FaultTemplateLeak)
}

// DefaultContextWindow is the window of a Config that sets none: Ollama's
// default on a machine with less than 24 GiB of GPU memory
// (ollama/ollama docs/context-length.mdx).
const DefaultContextWindow = 4096

// TruncateKeep is how many tokens at the start of a prompt a silent
// truncation keeps (Ollama keeps num_keep, 4 by default, and the tail).
const TruncateKeep = 4

// endlessDefault is how long an endless answer runs without max_tokens.
const endlessDefault = 1024

// templateLeak is what FaultTemplateLeak appends to an answer.
const templateLeak = "<|im_end|>\n<|im_start|>user\nAnd what else can you tell me?"

// NeedlePrompt is what a prompt says to hide a code for the model to find
// ("The first secret code is K7Q2M9XD."). The simulator answers such a
// prompt with every code it can still see, in order: a model with a perfect
// memory of what reached it. A code cut off by a silent truncation is not
// in the answer.
const NeedlePrompt = "secret code is"

var needleRE = regexp.MustCompile(`(?i:` + NeedlePrompt + `) ([A-Z0-9]{4,32})\b`)

// needleAnswer answers a needle prompt, or reports false when prompt has
// no needle.
func needleAnswer(prompt string) (string, bool) {
	if !strings.Contains(strings.ToLower(prompt), NeedlePrompt) {
		return "", false
	}
	var codes []string
	for _, m := range needleRE.FindAllStringSubmatch(prompt, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) == 0 {
		return "I see no secret code.", true
	}
	return strings.Join(codes, " "), true
}

// contextWindow turns a configured window into the running one: 0 is the
// default, negative is none.
func contextWindow(n int) int {
	switch {
	case n == 0:
		return DefaultContextWindow
	case n < 0:
		return 0
	}
	return n
}

// SetContextWindow sets the tokens a request gets: 0 the default,
// negative none (nothing is refused, cut or reported).
func (s *Sim) SetContextWindow(n int) {
	s.mu.Lock()
	s.window = contextWindow(n)
	s.mu.Unlock()
	s.log.Info("context window set", "tokens", contextWindow(n))
}

// ContextWindow returns the tokens a request gets, 0 for none.
func (s *Sim) ContextWindow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.window
}

// fitted is a prompt after the window: what the model sees, how many
// tokens it counts, and whether it was refused.
type fitted struct {
	Visible      string
	PromptTokens int
	Refused      string // the 400's message when the prompt was refused
}

// fitPrompt applies the window to the request's messages (all of them
// count; the last user message is what the answer reads).
func (s *Sim) fitPrompt(n int64, msgs []chatMessage, fault Fault) fitted {
	f := fitted{Visible: lastUserText(msgs)}
	var all []string
	for _, m := range msgs {
		all = append(all, Tokenize(m.text())...)
	}
	f.PromptTokens = len(all)
	window := s.ContextWindow()
	if window <= 0 || f.PromptTokens <= window {
		return f
	}
	if fault != FaultTruncate {
		f.Refused = fmt.Sprintf("request (%d tokens) exceeds the available context size (%d tokens), try increasing it", f.PromptTokens, window)
		s.serverLog(fmt.Sprintf("srv    send_error: task id = %d, error: %s", n, f.Refused))
		return f
	}
	keep := min(TruncateKeep, window-1)
	kept := append(append([]string(nil), all[:keep]...), all[len(all)-(window-keep):]...)
	s.serverLog(fmt.Sprintf(`time=%s level=WARN source=runner.go:153 msg="truncating input prompt" limit=%d prompt=%d keep=%d new=%d`,
		s.now().UTC().Format("2006-01-02T15:04:05.000Z07:00"), window, f.PromptTokens, keep, len(kept)))
	f.Visible, f.PromptTokens = strings.Join(kept, ""), len(kept)
	return f
}

// endingFault applies FaultEndless and FaultTemplateLeak to an answer.
func endingFault(fault Fault, tokens []string, limit int) []string {
	switch fault {
	case FaultEndless:
		n := limit + 1
		if limit <= 0 {
			n = endlessDefault
		}
		out := append([]string(nil), tokens...)
		for i := 1; len(out) < n; i++ {
			out = append(out, " "+strconv.Itoa(i))
		}
		return out
	case FaultTemplateLeak:
		if len(tokens) == 0 {
			return Tokenize(templateLeak)
		}
		leak := Tokenize(templateLeak)
		out := append([]string(nil), tokens...)
		out[len(out)-1] += leak[0] // glued to the last word, as a model emits it
		return append(out, leak[1:]...)
	}
	return tokens
}

// shiftContext logs a context shift when the answer outgrows the window
// (or always, under FaultContextShift), with llama-server's numbers: it
// keeps n_keep = 1 (the BOS) and discards half of the rest.
func (s *Sim) shiftContext(n int64, fault Fault, promptTokens, answerTokens int) {
	window := s.ContextWindow()
	over := window > 0 && promptTokens+answerTokens > window
	if !over && fault != FaultContextShift {
		return
	}
	ctx := window
	if ctx <= 0 {
		ctx = promptTokens + answerTokens
	}
	left := max(ctx-2, 0)
	s.serverLog(fmt.Sprintf("slot update_slots: id  0 | task %d | slot context shift, n_keep = 1, n_left = %d, n_discard = %d", n, left, left/2))
}

// serverLog appends one line of the server's own log to the access log.
func (s *Sim) serverLog(line string) {
	if s.cfg.AccessLog == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if _, err := s.cfg.AccessLog.Write([]byte(line + "\n")); err != nil {
		s.log.Warn("write access log", "err", err)
	}
}
