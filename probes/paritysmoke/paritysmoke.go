// Package paritysmoke is the council's nightly quality probe ("did quality
// silently regress", docs/DESIGN.md section 3): it sends a set of golden prompts to the
// council at temperature 0 with a fixed seed, one at a time, each with its
// own deadline, checks every answer, and optionally compares each answer
// token by token with a reference backend's (the Python server, a shadow,
// another build).
//
// A prompt fails on an HTTP or timeout error, an empty answer, a garbage
// answer (a quarter or more of its characters unprintable or tokenizer
// leftovers such as <unk>), how the answer ended (each a named reason,
// ending.go: "finish_reason" when it is not "stop", or the prompt's
// finish_reason; "template leak" for a chat template token such as
// <|im_end|>, <|eot_id|> or </s>, or a line starting a new "Human:" or
// "User:" turn; "loop" for a unit of one to four tokens repeated eight
// times in a row, or of five to 64 tokens four times), a missing expected
// substring or regex match, or, with a reference, answers that differ
// before --min-prefix tokens. More than --max-failures
// failing prompts fail the set: an error alert on the "parity" channel naming
// the failing ids, exit 2. Problems of the reference itself (down, empty,
// garbage) are reported on the "reference" channel at warn and never count
// against the primary.
//
// "The answer" is always the visible answer (openai.Visible): the
// message content without the model's reasoning, i.e. without
// <think>...</think> blocks and, when a "</think>" has no opening tag (chat
// templates that open the block in the prompt), without everything up to
// the last "</think>". A reasoning_content or reasoning field is never the
// answer. Only the visible answer is judged, checked for garbage, compared
// and recorded, so an expected substring that appears only in the
// reasoning fails the prompt.
//
// # Prompt file
//
// --prompts names a JSON file; without it the ten prompts embedded from
// prompts/default.json are used (arithmetic, facts, short code, lists and one
// answer of about a hundred tokens). The schema:
//
//	{
//	  "version": 1,                       // required, must be 1
//	  "note": "free text",                // optional
//	  "prompts": [                        // 1 to 200 prompts, run in order
//	    {
//	      "id": "arith-add",              // unique; A-Z a-z 0-9 . _ -, at most 64
//	      "prompt": "What is 17 + 25?",   // sent as the user message
//	      "max_tokens": 16,               // 1 to 8192
//	      "expect": ["42"],               // substrings the answer must all contain (case-sensitive)
//	      "expect_regex": "\\b42\\b",     // and/or an RE2 regex it must match; (?i) for case
//	      "finish_reason": "stop",        // optional: stop (default), length or any
//	      "observed": "42"                // optional: the answer seen by --record, for review only
//	    }
//	  ]
//	}
//
// Each prompt needs expect or expect_regex (or both). Unknown fields are
// errors, so a misspelt "expct" is not silently ignored. Errors name the
// file, line, column and field, e.g.
// "prompts.json:14:7: prompts[2] (fact-capital).max_tokens: is 0; want 1 to 8192".
//
// # Comparison
//
// With logprobs (on by default) and a server that returns
// choices[0].logprobs.content[].token on both sides, the server tokens are
// compared. Otherwise both answers are tokenized alike: runs of letters and
// digits are tokens, every other visible character is a token, and
// whitespace only separates. Reasoning cut from the content of either
// answer means the server tokens spell the reasoning too and no longer line
// up with the answer, so such a pair is tokenized alike as well (basis
// "text"), and its tokens count is the visible answer's in that
// tokenisation. The report gives exact match, the common prefix
// in tokens, and at the first divergence a short excerpt of both sides.
//
// # Recording
//
// --record FILE runs the set against the primary (point --url at a
// known-good backend) and writes a prompt file with each answer's key
// substrings and the observed answer, for an operator to review before
// using it with --prompts. A prompt the backend answered up to max_tokens
// is recorded with "finish_reason": "length", for the review to keep or
// fix. It refuses to overwrite a file without --force, and writes nothing
// when any prompt fails to get a usable answer (a leaked template or a
// loop is not usable).
//
// # Events
//
// Every prompt is one "parity_prompt" event (check "parity") with id, pass,
// reason, latency_ms, tokens, finish_reason, ending (the broken ending
// rules, when any), reasoning_bytes (when the primary reasoned; measured,
// never judged) and, with a reference,
// ref_latency_ms, ref_tokens, basis, exact, prefix, divergence and the two
// excerpts; info when it passed, warn when it failed. The set ends with
// "parity_ok" or "parity_fail"; the reference with "reference_ok" or
// "reference_degraded".
package paritysmoke

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// name is the probe's name: binary council-parity-smoke, client cert
// clients/parity-smoke.crt.
const name = "parity-smoke"

// Checks (alert channels).
const (
	CheckParity    = "parity"          // the prompt set's verdict
	CheckReference = "reference"       // the reference backend's health
	CheckPrompts   = "prompts"         // the prompt file could not be loaded
	CheckConfig    = probe.CheckConfig // a setting is out of range
)

// Defaults.
const (
	defaultPromptTimeout = 90 * time.Second
	defaultSeed          = 42
	defaultMaxFailures   = 1
	defaultMinPrefix     = 8
)

// New returns the council-parity-smoke probe.
func New() *probe.Probe {
	return &probe.Probe{
		Name:  name,
		Usage: "nightly golden prompts and reference-backend parity",
		Description: "Sends a set of golden prompts to the council at temperature 0 with a fixed seed and checks\n" +
			"each answer; with --reference-url, compares every answer token by token with a second backend.\n" +
			"More than --max-failures failing prompts alert on the parity channel (exit 2).\n" +
			"--record FILE writes a golden prompt file from a known-good backend for review.",
		Network: true,
		Flags:   flags(),
		Default: alert.Policy{Threshold: 1, Cooldown: 6 * time.Hour},
		Tick:    tick,
	}
}

// tick runs the prompt set once.
func tick(ctx context.Context, t *probe.Tick) error {
	o, err := settingsFrom(t.C)
	if err != nil {
		t.Unknown(CheckConfig, "config_error", err.Error())
		return nil
	}
	t.Clear(CheckConfig)
	set, err := loadPrompts(o.Prompts)
	if err != nil {
		t.Unknown(CheckPrompts, "prompts_invalid", text.Clean(err.Error()))
		return nil
	}
	t.Clear(CheckPrompts)
	if o.Record != "" {
		return record(ctx, t, o, set)
	}

	runner := &runner{
		Primary:       &backend{Role: "primary", Client: t.Client, Model: t.Common.Model, Seed: o.Seed, Logprobs: o.Logprobs, Log: t.Log},
		PromptTimeout: o.PromptTimeout,
		MinPrefix:     o.MinPrefix,
	}
	resolveModel(ctx, t, runner.Primary, o.PromptTimeout)
	if o.ReferenceURL != "" {
		c, err := transport.Resolve(o.Reference)
		if err != nil {
			// Still smoke-test the primary on its own: the nightly run is
			// the only one.
			t.Unknown(CheckReference, "reference_transport_error", err.Error())
		} else {
			runner.Reference = &backend{Role: "reference", Client: c, Model: o.RefModel, Seed: o.Seed, Logprobs: o.Logprobs,
				Log: t.Log.With("reference_transport", string(c.Kind))}
			resolveModel(ctx, t, runner.Reference, o.PromptTimeout)
		}
	} else {
		t.Clear(CheckReference)
	}
	// The model id may be the server's (first listed): redacted, as is
	// any password in the reference URL.
	t.Log.Info("parity_start", "prompts", len(set.Prompts), "model", redact.String(runner.Primary.Model),
		"reference", redact.URL(o.ReferenceURL), "seed", o.Seed, "prompt_timeout_ms", o.PromptTimeout.Milliseconds())

	results, err := runner.Run(ctx, set, func(r result) { logResult(t, r) })
	if err != nil {
		return err
	}
	if showTable(o.Table, t) {
		writeTable(t.Out, results, runner.Reference != nil)
	}
	judgeSet(t, results, o)
	if runner.Reference != nil {
		judgeReference(t, results)
	}
	return nil
}

func resolveModel(ctx context.Context, t *probe.Tick, b *backend, timeout time.Duration) {
	if err := b.ResolveModel(ctx, timeout); err != nil {
		t.Log.Warn("model_unresolved", "backend", b.Role, "detail", err.Error(), "action", "letting the server choose")
	}
}

func showTable(mode string, t *probe.Tick) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := t.Out.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// logResult writes the prompt's parity_prompt event.
func logResult(t *probe.Tick, r result) {
	attrs := []any{"check", CheckParity, "id", r.Prompt.ID, "pass", r.Pass, "reason", r.Reason,
		"latency_ms", r.Primary.Latency.Milliseconds(), "tokens", r.Primary.TokenCount(), "finish_reason", r.Primary.FinishReason}
	if n := r.Primary.ReasoningBytes; n > 0 {
		attrs = append(attrs, "reasoning_bytes", n)
	}
	if broken := brokenEndings(r.Reason); len(broken) > 0 {
		attrs = append(attrs, "ending", broken)
	}
	if r.Reference != nil {
		attrs = append(attrs, "ref_latency_ms", r.Reference.Latency.Milliseconds(), "ref_tokens", r.Reference.TokenCount())
		if r.RefProblem != "" {
			attrs = append(attrs, "reference_problem", r.RefProblem)
		}
	}
	if c := r.Cmp; c != nil {
		attrs = append(attrs, "basis", c.Basis, "exact", c.Exact, "prefix", c.Prefix, "divergence", c.Divergence,
			"compared_tokens", c.Tokens, "ref_compared_tokens", c.RefTokens)
		if !c.Exact {
			attrs = append(attrs, "primary_excerpt", c.PrimaryExcerpt, "reference_excerpt", c.ReferenceExcerpt)
		}
	}
	level := slog.LevelInfo
	if !r.Pass {
		level = slog.LevelWarn
	}
	t.Log.Log(context.Background(), level, "parity_prompt", attrs...)
}

// judgeSet reports the set's verdict on the parity channel.
func judgeSet(t *probe.Tick, results []result, o settings) {
	failed := failed(results)
	exact, compared := 0, 0
	for _, r := range results {
		if r.Cmp != nil {
			compared++
			if r.Cmp.Exact {
				exact++
			}
		}
	}
	ids := make([]string, len(failed))
	for i, r := range failed {
		ids[i] = r.Prompt.ID
	}
	passed := len(results) - len(failed)
	t.Perf("passed", float64(passed), "")
	t.Perf("failed", float64(len(failed)), "")
	attrs := []any{"prompts", len(results), "passed", passed, "failed", len(failed), "failing", ids,
		"max_failures", o.MaxFailures}
	if compared > 0 {
		t.Perf("exact", float64(exact), "")
		attrs = append(attrs, "compared", compared, "exact", exact)
	}
	if len(failed) > o.MaxFailures {
		// The ids first (they fit any alert), then the first reason.
		t.Fail(CheckParity, "parity_fail", alert.Error,
			fmt.Sprintf("%d/%d prompts failed (at most %d tolerated): %s; first: %s: %s", len(failed), len(results), o.MaxFailures,
				strings.Join(ids, ", "), failed[0].Prompt.ID, cut(failed[0].Reason, 120)),
			attrs...)
		return
	}
	summary := fmt.Sprintf("%d/%d prompts passed", passed, len(results))
	if compared > 0 {
		summary += fmt.Sprintf(", %d/%d identical to the reference", exact, compared)
	}
	if len(failed) > 0 {
		summary += fmt.Sprintf(" (tolerated: %s)", strings.Join(ids, ", "))
	}
	t.Pass(CheckParity, "parity_ok", attrs...)
	t.OKSummary(summary)
}

// judgeReference reports prompts the reference could not answer usably: the
// comparison is missing, which is its own (warn) failure mode, not the
// primary's.
func judgeReference(t *probe.Tick, results []result) {
	var bad []string
	for _, r := range results {
		if r.RefProblem != "" {
			bad = append(bad, r.Prompt.ID+" ("+cut(r.RefProblem, 60)+")")
		}
	}
	if len(bad) == 0 {
		t.Pass(CheckReference, "reference_ok", "prompts", len(results))
		return
	}
	t.Fail(CheckReference, "reference_degraded", alert.Warn,
		fmt.Sprintf("reference answered %d/%d prompts usably; not compared: %s", len(results)-len(bad), len(results), strings.Join(bad, "; ")),
		"prompts", len(results), "unusable", len(bad))
}

// record runs the set against the primary and writes the golden file.
func record(ctx context.Context, t *probe.Tick, o settings, set *promptSet) error {
	if !o.Force {
		if _, err := os.Lstat(o.Record); err == nil {
			t.Log.Error("record_refused", "path", o.Record, "detail", errRecordExists.Error())
			t.SetExit(probe.ExitUnknown, fmt.Sprintf("--record %s: %v", o.Record, errRecordExists))
			return nil
		}
	}
	b := &backend{Role: "primary", Client: t.Client, Model: t.Common.Model, Seed: o.Seed, Logprobs: false, Log: t.Log}
	resolveModel(ctx, t, b, o.PromptTimeout)
	runner := &runner{Primary: b, PromptTimeout: o.PromptTimeout}
	results, err := runner.Run(ctx, set, func(r result) {
		// Recording judges usability only: the new expectations come
		// from these answers.
		level := slog.LevelInfo
		reason := usableShape(r.Primary)
		if reason != "" {
			level = slog.LevelWarn
		}
		t.Log.Log(context.Background(), level, "record_prompt", "id", r.Prompt.ID, "usable", reason == "", "reason", reason,
			"latency_ms", r.Primary.Latency.Milliseconds(), "tokens", r.Primary.TokenCount())
	})
	if err != nil {
		return err
	}
	var bad []string
	for i := range results {
		r := &results[i]
		r.Reason = usableShape(r.Primary)
		r.Pass = r.Reason == ""
		if !r.Pass {
			bad = append(bad, r.Prompt.ID)
		}
	}
	if showTable(o.Table, t) {
		writeTable(t.Out, results, false)
	}
	if len(bad) > 0 {
		why := fmt.Sprintf("--record: %d/%d prompts got no usable answer (%s); nothing written", len(bad), len(results), strings.Join(bad, ", "))
		t.Log.Error("record_refused", "path", o.Record, "detail", why, "failing", bad)
		t.SetExit(probe.ExitCritical, why)
		return nil
	}
	golden := goldenSet(results, recordNote(t.Now(), redact.URL(t.Client.BaseURL), redact.String(b.Model)))
	if t.DryRun() {
		data, err := marshalPrompts(golden)
		if err != nil {
			return err
		}
		fmt.Fprintf(t.Out, "dry-run: would write %s (%d bytes):\n%s", o.Record, len(data), data)
		t.OKSummary(fmt.Sprintf("dry-run: %d prompts recorded, %s not written", len(results), o.Record))
		return nil
	}
	if _, err := writeGolden(o.Record, golden, o.Force); err != nil {
		t.Log.Error("record_refused", "path", o.Record, "detail", err.Error())
		t.SetExit(probe.ExitUnknown, err.Error())
		return nil
	}
	t.Log.Info("record_written", "path", o.Record, "prompts", len(golden.Prompts), "model", b.Model)
	t.OKSummary(fmt.Sprintf("recorded %d prompts to %s; review it before use", len(golden.Prompts), o.Record))
	return nil
}
