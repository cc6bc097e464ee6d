// Package ctxwindow is council-context, the nightly probe that asks: is the
// server's context window what we think it is, and is anyone losing input
// to it? (It lives in probes/context; its package is named ctxwindow
// because a package named context would shadow the standard library's in
// every file that imports both, and every probe takes a context.Context.)
//
// A local server that gets a prompt longer than its window often answers
// 200 anyway: Ollama cuts the prompt to the window (keeping its first few
// tokens and its tail), answers from what is left, and says so only in a
// WARN line of its own log (`msg="truncating input prompt" limit=4096
// prompt=25933`). A client sees a plausible answer to a question it did
// not ask. Each tick:
//
//  1. The window. --expect-context N is what the operator thinks it is;
//     the server says what it is where it can (Ollama's /api/ps
//     context_length, after loading the model with a one-token request if
//     it is not loaded; llama-server's /props n_ctx; vLLM's max_model_len
//     in /v1/models). The needle is sized for --expect-context when set,
//     else for what the server says; when neither is known the tick says
//     so (context_unknown, UNKNOWN) and judges no window.
//  2. context_smaller (warn): the server's window is smaller than
//     --expect-context, or it refused the needle as longer than its
//     window (llama-server's and vLLM's honest 400).
//  3. The needle: one prompt filling --context-fill (0.8) of the window,
//     a random code at its start and another at its end, asking for both
//     back, at temperature 0. What was sent is counted conservatively, one
//     token per word (every tokenizer of a local model spends at least
//     one token on a word, and the chat template adds more), so a server
//     whose usage.prompt_tokens is smaller than the word count dropped
//     part of the prompt: context_truncated (error). The server's log,
//     read since the needle was sent, is the second witness: a truncation
//     line whose prompt= is at least the words sent is the needle's. The
//     codes that came back are reported (needle_first, needle_last), and
//     judged only with --check-needle (a small or random model cannot
//     repeat them; with the flag, a missing code is context_truncated
//     too).
//  4. context_pressure (warn): the server's log (--server-log) shows other
//     clients' prompts truncated or refused for the window, or context
//     shifts, since the last tick: real users are losing input now. The
//     count and the first line (sanitised, bounded) are in the alert. The
//     log position is kept in the state file; a rotated or truncated log
//     is read from its start; at most --log-read-bytes are read per tick.
//     The first tick only learns the position.
//
// The lines recognised are Ollama's (runner.go, ollama/ollama v0.17.4):
//
//	msg="truncating input prompt" limit=4096 prompt=25933 keep=4 new=4096
//	msg="context limit hit - shifting"        (with OLLAMA_DEBUG=1 only)
//
// and llama-server's (tools/server, ggml-org/llama.cpp):
//
//	slot update_slots: id  0 | task 7 | slot context shift, n_keep = 1, n_left = 4094, n_discard = 2047
//	srv    send_error: task id = 7, error: request (5274 tokens) exceeds the available context size (4096 tokens), try increasing it
//	slot update_slots: id  0 | task 7 | input truncated, n_ctx = 4096, n_keep = 0, n_left = 4096, n_prompt_tokens = 2048   (older builds)
//
// A server that is down, hangs or answers an error is the guardian's and
// the canary's business: the needle is skipped (context_skipped, exit 3)
// and no context channel alerts; the log is still read. A refused token
// is our fault: auth, UNKNOWN, alerted at once.
//
// Cost: one long prefill a day (--context-fill of the window) and a few
// generated tokens; docs/probes/context.md estimates it for the council's
// Mac mini.
// It runs daily at 03:30, half an hour after parity-smoke so the two never
// share the GPU, and at once when drift sees the server change.
//
// Events: context_window (the window expected, reported and used),
// context_needle (words sent, prompt_tokens, finish_reason, the codes),
// context_smaller, context_truncated, context_pressure (check events),
// context_log (what was read), context_unknown, context_skipped.
package ctxwindow

import (
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/probe"
)

// The context probe's channels.
const (
	// CheckSmaller (warn): the window is smaller than --expect-context.
	CheckSmaller = "context_smaller"
	// CheckTruncated (error): the server dropped part of the needle.
	CheckTruncated = "context_truncated"
	// CheckPressure (warn): other clients' prompts were truncated or
	// refused, or contexts shifted, since the last tick.
	CheckPressure = "context_pressure"
	// CheckAuth: the council refused the probe's credentials (401/403):
	// a fault on our side, UNKNOWN, alerted at once.
	CheckAuth = probe.CheckAuth
	// CheckConfig: a setting is out of range (UNKNOWN).
	CheckConfig = probe.CheckConfig
)

// New returns the context probe.
func New() *probe.Probe {
	return &probe.Probe{
		Name:  "context",
		Usage: "is the server's context window what we think it is, and is anyone losing input to it? (daily)",
		Description: "Compares the server's context window with --expect-context (context_smaller, warn), sends one needle\n" +
			"prompt filling --context-fill of the window with a code at each end and checks the server counted all\n" +
			"of it (context_truncated, error), and counts other clients' truncated prompts and context shifts in\n" +
			"the server's log since the last tick (context_pressure, warn).\n" +
			"Cost: one long prefill a day.",
		Network: true,
		Flags:   flags(),
		// A daily probe alerts on the first finding; a channel still
		// failing the next night alerts again.
		Default: alert.Policy{Threshold: 1, Cooldown: 12 * time.Hour},
		Tick:    tick,
	}
}
