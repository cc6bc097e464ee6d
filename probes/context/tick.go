package ctxwindow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/openai"
)

// stateKey holds the memory in the probe's state file.
const stateKey = "context"

// memory is what the probe keeps between ticks.
type memory struct {
	// Log is where the last tick stopped reading the server's log.
	Log logCursor `json:"log"`
}

// tick runs the context checks once.
func tick(ctx context.Context, t *probe.Tick) error {
	s, err := settingsFrom(t.C)
	if err != nil {
		t.Unknown(CheckConfig, "config_error", err.Error())
		return nil
	}
	t.Clear(CheckConfig)
	var mem memory
	if _, err := t.State.Get(stateKey, &mem); err != nil {
		t.Log.Warn("state_reset", "check", stateKey, "error", err.Error())
		mem = memory{}
	}
	// The cursor's time is the "since" of the pressure report: one after
	// now (a clock stepped back) is taken as now.
	mem.Log.At = t.PastTime(stateKey+".log.at", mem.Log.At)

	// Other clients' lines since the last tick, before the needle adds
	// its own.
	before := readLog(t, s, mem.Log)
	n := sendNeedle(ctx, t, s)
	if ctx.Err() != nil {
		return ctx.Err() // cancelled by a signal: report nothing
	}
	var after serverLog
	if before.OK && n.Sent {
		after = readLog(t, s, before.Read.Next)
	}
	j := judge(t, s, n, before, after)
	report(t, s, n, j, before, after)
	switch {
	case after.OK:
		mem.Log = after.Read.Next
	case before.OK:
		mem.Log = before.Read.Next
	}
	return t.State.Put(stateKey, mem)
}

// serverLog is one read of the server's log, or why there is none.
type serverLog struct {
	OK   bool
	Read logRead
	// Why the log was not read ("" when it was).
	Why string
}

// readLog reads the server's log since cur. Not configured, missing or
// unreadable: the pressure check is not judged, and the tick says why.
func readLog(t *probe.Tick, s settings, cur logCursor) serverLog {
	if s.ServerLog == "" {
		return serverLog{Why: "no --server-log"}
	}
	r, err := readSince(s.ServerLog, cur, s.LogReadBytes, t.Now())
	if err != nil {
		return serverLog{Why: text.Excerpt(err.Error(), text.MaxIdent)}
	}
	return serverLog{OK: true, Read: r}
}

// needleRun is the window and the needle as sent and answered.
type needleRun struct {
	Model    string
	Expect   int
	Reported reported
	// Window is the window the needle was sized for (Expect, else the
	// server's); 0 when neither is known.
	Window int
	Needle needle
	// Sent: the needle was sent (and answered, unless Err or Refused).
	Sent bool
	Res  openai.ChatResult
	// Refused is the server's words when it refused the needle as longer
	// than its window.
	Refused string
	// Skip names why the needle was not sent or not answered (the
	// server's business, or ours: auth); Err is the failure.
	Skip string
	Err  error
}

// sendNeedle finds the window and sends the needle, all within
// --deadline.
func sendNeedle(ctx context.Context, t *probe.Tick, s settings) needleRun {
	n := needleRun{Model: s.Model, Expect: s.Expect}
	client := openai.New(t.Client)
	ctx, cancel := context.WithTimeout(ctx, s.Deadline)
	defer cancel()
	if n.Model == "" {
		mctx, cancel := context.WithTimeout(ctx, askTimeout)
		id, _, err := client.ServedModel(mctx, "")
		cancel()
		if err != nil {
			n.Skip, n.Err = skipReason(err), err
			return n
		}
		n.Model = id
	}
	n.Reported = serverWindow(ctx, t, client, n.Model)
	n.Window = n.Expect
	if n.Window == 0 {
		n.Window = n.Reported.Tokens
	}
	if n.Window == 0 {
		return n
	}
	n.Needle = buildNeedle(needleWords(n.Window, s.Fill, s.MaxPromptWords), newCode(), newCode())
	req := openai.UserPrompt(n.Model, n.Needle.Prompt, s.AnswerTokens)
	req.Temperature = 0
	n.Sent = true
	n.Res, n.Err = client.Chat(ctx, req)
	if n.Err != nil {
		if why, ok := tooLong(n.Err); ok {
			n.Refused = why
			return n
		}
		n.Skip = skipReason(n.Err)
	}
	return n
}

// tooLongPhrases are what servers answer, with a 400, to a prompt longer
// than their window: llama-server ("request (N tokens) exceeds the
// available context size (W tokens)"), vLLM ("This model's maximum context
// length is W tokens"), Ollama with truncation off ("the input length
// exceeds the context length").
var tooLongPhrases = []string{"exceeds the available context size", "maximum context length", "exceeds the context length"}

// tooLong reports whether err is the server refusing the needle as longer
// than its window, with the server's words.
func tooLong(err error) (string, bool) {
	var e *openai.Error
	if !errors.As(err, &e) || (e.Status != http.StatusBadRequest && e.Status != http.StatusRequestEntityTooLarge) {
		return "", false
	}
	body := strings.ToLower(e.Body)
	for _, p := range tooLongPhrases {
		if strings.Contains(body, p) {
			return text.Excerpt(e.Body, text.MaxIdent), true
		}
	}
	return "", false
}

// skipReason names the class of a failure.
func skipReason(err error) string {
	if c := openai.ClassOf(err); c != "" {
		return string(c)
	}
	return "error"
}

// judgement is what the tick concluded.
type judgement struct {
	// Truncated lists why the needle counts as truncated (empty: whole,
	// or not judged when Judged is false).
	Truncated []string
	Judged    bool
	// Own is the needle's own truncation line in the server's log.
	Own *windowEvent
	// Others are other clients' lines since the last tick.
	Others []windowEvent
}

// judge decides what the needle and the log say; report reports it.
func judge(t *probe.Tick, s settings, n needleRun, before, after serverLog) judgement {
	var j judgement
	answered := n.Sent && n.Err == nil
	var post []windowEvent
	if after.OK {
		post = windowEvents(after.Read.Lines)
	}
	if answered {
		if pt := n.Res.PromptTokens; pt >= 0 {
			j.Judged = true
			if pt < n.Needle.Words {
				j.Truncated = append(j.Truncated, fmt.Sprintf("the server counted %d prompt tokens for a prompt of at least %d", pt, n.Needle.Words))
			}
		}
		for i, e := range post {
			if e.Kind == kindTruncated && e.Prompt >= n.Needle.Words {
				j.Own = &post[i]
				j.Judged = true
				j.Truncated = append(j.Truncated, "its log says it truncated a prompt of "+tokens(e.Prompt)+limitText(e))
				break
			}
		}
		if s.CheckNeedle {
			j.Judged = true
			first, last := n.Needle.found(n.Res.Answer)
			switch {
			case !first && !last:
				j.Truncated = append(j.Truncated, "the answer repeats neither code")
			case !first:
				j.Truncated = append(j.Truncated, "the answer lacks the code at the start")
			case !last:
				j.Truncated = append(j.Truncated, "the answer lacks the code at the end")
			}
		}
	}
	if before.OK && !before.Read.First {
		j.Others = windowEvents(before.Read.Lines)
		// What the log gained during a truncated needle is the needle's
		// (a prompt cut to the window also shifts as it answers); during
		// a whole one, it is other clients'.
		if len(j.Truncated) == 0 {
			j.Others = append(j.Others, post...)
		}
	}
	return j
}

// report logs the tick's events and feeds the channels, the perfdata and
// the metrics.
func report(t *probe.Tick, s settings, n needleRun, j judgement, before, after serverLog) {
	model := text.Excerpt(n.Model, text.MaxIdent)
	if n.Model == "" {
		skipped(t, n)
		reportPressure(t, before, after, j)
		return
	}
	t.Log.Info("context_window", "model", model, "expect_context", n.Expect, "reported_context", n.Reported.Tokens,
		"reported_by", n.Reported.How, "window", n.Window)
	if n.Reported.Tokens > 0 {
		t.Perf("window", float64(n.Reported.Tokens), "")
		t.Gauge(metricWindow, "The context window the server reports for the model (tokens).", float64(n.Reported.Tokens), "model", model)
	}
	if n.Expect > 0 {
		t.Gauge(metricExpected, "The context window the operator expects (--expect-context, tokens).", float64(n.Expect), "model", model)
	}
	reportSmaller(t, n)

	var parts []string
	switch {
	case n.Window == 0:
		t.Log.Warn("context_unknown", "model", model, "detail", n.Reported.How)
		t.SetExit(probe.ExitUnknown, "context window unknown: "+n.Reported.How)
	case n.Refused != "":
		t.Clear(CheckAuth)
		parts = append(parts, fmt.Sprintf("needle of %d words refused as too long", n.Needle.Words))
	case n.Err != nil:
		skipped(t, n)
	default:
		t.Clear(CheckAuth)
		parts = append(parts, reportNeedle(t, s, n, j))
	}
	if n.Window > 0 {
		from := "server"
		if n.Expect > 0 {
			from = "--expect-context"
		}
		parts = append([]string{fmt.Sprintf("window %s (%s)", tokens(n.Window), from)}, parts...)
	}
	if p := reportPressure(t, before, after, j); p != "" {
		parts = append(parts, p)
	}
	t.OKSummary(strings.Join(parts, "; ") + " (" + model + ")")
}

// reportSmaller judges the window against --expect-context, and a needle
// refused as too long.
func reportSmaller(t *probe.Tick, n needleRun) {
	switch {
	case n.Refused != "":
		t.Fail(CheckSmaller, CheckSmaller, alert.Warn,
			fmt.Sprintf("%s refused a prompt of %d words, %s of the %d-token window %s, as longer than its window: %s",
				text.Excerpt(n.Model, text.MaxIdent), n.Needle.Words, fill(float64(n.Needle.Words)/float64(n.Window)), n.Window, windowFrom(n), n.Refused),
			"expect_context", n.Expect, "reported_context", n.Reported.Tokens, "words", n.Needle.Words)
	case n.Expect > 0 && n.Reported.Tokens > 0 && n.Reported.Tokens < n.Expect:
		t.Fail(CheckSmaller, CheckSmaller, alert.Warn,
			fmt.Sprintf("%s has a context window of %s (%s), smaller than the %s expected (--expect-context)",
				text.Excerpt(n.Model, text.MaxIdent), tokens(n.Reported.Tokens), n.Reported.How, tokens(n.Expect)),
			"expect_context", n.Expect, "reported_context", n.Reported.Tokens)
	case n.Expect > 0 && n.Reported.Tokens > 0:
		t.Pass(CheckSmaller, "context_as_expected", "expect_context", n.Expect, "reported_context", n.Reported.Tokens)
	case n.Expect == 0:
		// Nothing expected, nothing to judge: an earlier alert ends.
		t.Clear(CheckSmaller)
	default:
		t.Log.Info("context_smaller_not_judged", "reason", n.Reported.How)
	}
}

// windowFrom says whose window the needle was sized for.
func windowFrom(n needleRun) string {
	if n.Expect > 0 {
		return "expected (--expect-context)"
	}
	return "it reports"
}

// reportNeedle reports the needle's answer on context_truncated and
// returns its part of the summary.
func reportNeedle(t *probe.Tick, s settings, n needleRun, j judgement) string {
	first, last := n.Needle.found(n.Res.Answer)
	codes := btoi(first) + btoi(last)
	model := text.Excerpt(n.Model, text.MaxIdent)
	attrs := []any{"model", model, "words", n.Needle.Words, "prompt_tokens", n.Res.PromptTokens,
		"completion_tokens", n.Res.CompletionTokens, "finish_reason", text.Excerpt(n.Res.FinishReason, text.MaxIdent),
		"needle_first", first, "needle_last", last, "answer", text.Excerpt(n.Res.Answer, text.MaxIdent),
		"latency_ms", n.Res.Timings.Total().Milliseconds(), "check_needle", s.CheckNeedle}
	if j.Own != nil {
		attrs = append(attrs, "log_line", j.Own.Line)
	}
	t.Log.Info("context_needle", attrs...)
	t.Perf("sent_words", float64(n.Needle.Words), "")
	t.Gauge(metricWords, "Words of the context probe's needle prompt (at most its tokens).", float64(n.Needle.Words), "model", model)
	if n.Res.PromptTokens >= 0 {
		t.Perf("prompt_tokens", float64(n.Res.PromptTokens), "")
		t.Gauge(metricPromptTokens, "Prompt tokens the server counted for the needle.", float64(n.Res.PromptTokens), "model", model)
	}
	counted := "no prompt_tokens"
	if n.Res.PromptTokens >= 0 {
		counted = fmt.Sprintf("%d prompt tokens", n.Res.PromptTokens)
	}
	switch {
	case len(j.Truncated) > 0:
		t.Fail(CheckTruncated, CheckTruncated, alert.Error,
			fmt.Sprintf("%s dropped part of a %d-word prompt (%s of a %d-token window) and answered 200: %s",
				model, n.Needle.Words, fill(s.Fill), n.Window, strings.Join(j.Truncated, "; ")),
			attrs...)
		return fmt.Sprintf("needle of %d words truncated (%s)", n.Needle.Words, counted)
	case j.Judged:
		t.Pass(CheckTruncated, "context_whole", "words", n.Needle.Words, "prompt_tokens", n.Res.PromptTokens)
		return fmt.Sprintf("needle of %d words read whole (%s, %d/2 codes back)", n.Needle.Words, counted, codes)
	}
	t.Log.Warn("context_truncated_not_judged", "reason", "the server gave no usage.prompt_tokens and its log said nothing (--check-needle judges the codes instead)")
	t.SetExit(probe.ExitUnknown, "truncation not judged: the server gave no usage.prompt_tokens")
	return fmt.Sprintf("needle of %d words answered, not judged (no prompt_tokens)", n.Needle.Words)
}

// reportPressure judges other clients' lost input since the last tick and
// returns its part of the summary.
func reportPressure(t *probe.Tick, before, after serverLog, j judgement) string {
	if !before.OK {
		t.Log.Warn("context_log", "read", false, "reason", before.Why)
		return "server log not read (" + before.Why + ")"
	}
	r := before.Read
	attrs := []any{"read", true, "lines", len(r.Lines) + len(after.Read.Lines), "first", r.First,
		"restarted", r.Restarted || after.Read.Restarted, "skipped_bytes", r.Skipped + after.Read.Skipped}
	if r.First {
		t.Log.Info("context_log", append(attrs, "detail", "first read: the log position is learned; the next tick counts what follows it")...)
		return "server log position learned"
	}
	t.Log.Info("context_log", append(attrs, "since", r.Since.Format(time.RFC3339))...)
	since := "since " + timeOf(before)
	t.Perf("pressure", float64(len(j.Others)), "")
	t.Gauge(metricPressure, "Other clients' prompts truncated or refused for the window, and context shifts, in the server's log since the last tick.",
		float64(len(j.Others)), "")
	if len(j.Others) == 0 {
		t.Pass(CheckPressure, "context_no_pressure", "since", timeOf(before))
		return "no input lost in the server's log " + since
	}
	msg := fmt.Sprintf("the server's log shows %s %s: real requests are losing input to the window; first: %s",
		count(j.Others), since, j.Others[0].Line)
	t.Fail(CheckPressure, CheckPressure, alert.Warn, msg, "count", len(j.Others), "detail_counts", count(j.Others))
	return count(j.Others) + " " + since
}

// timeOf is when the previous tick read the log (the cursor's time).
func timeOf(l serverLog) string {
	return l.Read.Since.Local().Format("2006-01-02 15:04")
}

// skipped reports a needle the server could not answer: the guardian's and
// the canary's business (exit 3, no alert), except a refusal of our
// credentials (auth, alerted).
func skipped(t *probe.Tick, n needleRun) {
	detail := text.Excerpt(redact.Error(n.Err), text.MaxIdent)
	t.Log.Warn("context_skipped", "reason", n.Skip, "detail", detail)
	if n.Skip == string(openai.Auth) {
		t.Unknown(CheckAuth, "auth_refused", "the council refused the probe's credentials: "+detail)
		return
	}
	t.Clear(CheckAuth)
	t.SetExit(probe.ExitUnknown, fmt.Sprintf("skipped (%s): %s", n.Skip, detail))
}

// The textfile series.
const (
	metricWindow       = "council_context_window_tokens"
	metricExpected     = "council_context_expected_tokens"
	metricWords        = "council_context_needle_words"
	metricPromptTokens = "council_context_needle_prompt_tokens"
	metricPressure     = "council_context_pressure_lines"
)

func tokens(n int) string { return fmt.Sprintf("%d tokens", n) }

func fill(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func limitText(e windowEvent) string {
	if e.Limit > 0 {
		return " to " + tokens(e.Limit)
	}
	return ""
}
