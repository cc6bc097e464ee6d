package pace

import (
	"context"
	"fmt"
	"log/slog"
	"math"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/openai"
)

// stateKey holds the Baseline in the probe's state file.
const stateKey = "baseline"

// The results of a sample, in pace_sample's "result" field.
const (
	resultLearning    = "learning"
	resultOK          = "ok"
	resultDegraded    = "degraded"
	resultBusy        = "busy"
	resultImplausible = "implausible"
	resultSkipped     = "skipped"
)

// tick takes one sample and reports it.
func tick(ctx context.Context, t *probe.Tick) error {
	s, err := settingsFrom(t.C)
	if err != nil {
		return err
	}
	client := openai.New(t.Client).WithLimits(openai.Limits{Stall: s.Stall})
	before := serverMetrics(ctx, t)
	cpu := sampleCPUBefore(ctx, t, s, before)
	m := sampler{Client: client, Resident: residentFunc(t)}.take(ctx, s)
	if ctx.Err() != nil {
		return ctx.Err() // cancelled by a signal: report nothing
	}
	m.CPU = cpu
	if m.Skip == "" {
		m.BusyRequests, m.BusyWhy = otherRequests(before, serverMetrics(ctx, t))
	}
	var b baseline
	if _, err := t.State.Get(stateKey, &b); err != nil {
		t.Log.Warn("state_reset", "check", "baseline", "error", err.Error())
		b = baseline{}
	}
	report(t, s, &b, m)
	return t.State.Put(stateKey, b)
}

// report judges m against b (learning it when healthy), logs the
// pace_sample event and feeds the channels, the perfdata and the metrics.
func report(t *probe.Tick, s settings, b *baseline, m measured) {
	// The model ids and fingerprint are the server's words (already
	// cleaned and bounded by the client): masked before they are kept,
	// logged or sent.
	m.Asked, m.Model, m.Fingerprint = redact.String(m.Asked), redact.String(m.Model), redact.String(m.Fingerprint)
	if m.Skip != "" {
		skipped(t, s, b, m)
		return
	}
	t.Clear(CheckAuth)
	key := keyOf(t, m)
	switch why := b.changedKey(key); {
	case s.Reset:
		relearn(t, b, key, "operator")
	case why != "":
		relearn(t, b, key, why)
	}
	if b.Backend == "" {
		b.Backend = key.Backend
	}
	watchIdentity(t, s, key, m)

	var v verdict
	result, unjudgedWhy, unjudgedDetail := resultBusy, "", ""
	implausibleWhy := implausible(s, m)
	if implausibleWhy != "" {
		// The decode speed rests on the count that is not believed.
		m.Sample.DecodeTPS, m.DecodeWhy = 0, implausibleWhy
	}
	switch busy, reason := m.busy(); {
	case implausibleWhy != "":
		result, unjudgedWhy, unjudgedDetail = resultImplausible, whyImplausible, implausibleWhy
		v = s.Rules.Compare(b, m.Sample)
	case busy:
		v = s.Rules.Compare(b, m.Sample)
		switch reason {
		case busyByRequests:
			unjudgedWhy, unjudgedDetail = whyBusyMetrics, m.BusyWhy
		case busyByCPU:
			unjudgedWhy, unjudgedDetail = whyBusyCPU, busySummary(m)
		default:
			unjudgedWhy, unjudgedDetail = whyBusyLog, fmt.Sprintf("%d other request(s) completed in the primary's log during the sample", m.Busy)
		}
	default:
		v = observe(s.Rules, b, m)
		switch {
		case v.Degraded():
			result = resultDegraded
		case v.Learning:
			result = resultLearning
		default:
			result = resultOK
		}
	}
	level := slog.LevelInfo
	if result == resultDegraded || result == resultImplausible {
		level = slog.LevelWarn
	}
	t.Log.Log(context.Background(), level, "pace_sample", append([]any{"result", result}, sampleAttrs(s, b, m, v)...)...)
	output(t, m, v)
	noteJudgement(t, s, v.TTFTJudged || v.DecodeJudged, unjudgedWhy, unjudgedDetail)
	checkAnswer(t, s, m, implausibleWhy != "")

	switch result {
	case resultBusy:
		t.OKSummary(fmt.Sprintf("%s, not judged: %s%s", busySummary(m), coldSummary(m), speeds(m, v)))
		return
	case resultImplausible:
		t.OKSummary(fmt.Sprintf("implausible, not judged: %s (%s)", implausibleWhy, m.Asked))
		return
	}
	judge(t, s, m, v)
	if result == resultLearning {
		t.OKSummary(fmt.Sprintf("learning %d/%d: %s%s", min(b.Learned, s.Rules.Warmup), s.Rules.Warmup, coldSummary(m), speeds(m, v)))
		return
	}
	t.OKSummary(coldSummary(m) + speeds(m, v))
}

// judge feeds each judged measure's channel; a measure not judged this
// tick (warmup, not measured) leaves its channel as it was. A channel
// recovers only here, on a judged sample within its limit: a relearned
// baseline never announces a recovery.
func judge(t *probe.Tick, s settings, m measured, v verdict) {
	if v.TTFTJudged {
		if v.TTFTDegraded {
			t.Fail(CheckTTFTDegraded, "pace_degraded", s.Severity,
				fmt.Sprintf("%s: time to first token %s is %s (limit %gx)",
					m.Asked, secs(m.Sample.TTFT), against(v.TTFTRatio, secs(v.TTFTBase), v.TTFTAnchorRatio, secs(v.TTFTAnchor), v.TTFTAnchorRatio > s.Rules.TTFTFactor && v.TTFTRatio <= s.Rules.TTFTFactor), s.Rules.TTFTFactor),
				"ttft_ms", ms(m.Sample.TTFT), "baseline_ttft_ms", ms(v.TTFTBase), "ttft_ratio", round2(v.TTFTRatio))
		} else {
			t.PassQuiet(CheckTTFTDegraded)
		}
	}
	if v.DecodeJudged {
		if v.DecodeDegraded {
			byAnchor := v.DecodeAnchorRatio > 0 && v.DecodeAnchorRatio < s.Rules.DecodeFactor && v.DecodeRatio >= s.Rules.DecodeFactor
			t.Fail(CheckDecodeDegraded, "pace_degraded", s.Severity,
				fmt.Sprintf("%s: decode %.1f tok/s is %s (limit %gx)",
					m.Asked, m.Sample.DecodeTPS, against(v.DecodeRatio, tps(v.DecodeBase), v.DecodeAnchorRatio, tps(v.DecodeAnchor), byAnchor), s.Rules.DecodeFactor),
				"decode_tps", round1(m.Sample.DecodeTPS), "baseline_decode_tps", round1(v.DecodeBase), "decode_ratio", round2(v.DecodeRatio))
		} else {
			t.PassQuiet(CheckDecodeDegraded)
		}
	}
}

// against says which reference a degraded sample passed: the usual (the
// rolling median), or the long-term anchor when only that one was passed
// (a slow leak the median followed).
func against(ratio float64, base string, anchorRatio float64, anchor string, byAnchor bool) string {
	if byAnchor {
		return fmt.Sprintf("%.2fx the long-term anchor %s (%.2fx the recent usual %s: the usual has crept)", anchorRatio, anchor, ratio, base)
	}
	return fmt.Sprintf("%.2fx the usual %s", ratio, base)
}

// skipped reports a sample the server could not give: exit 3, nothing
// learned, the pace channels untouched. A refusal of our credentials is our
// fault, not the server's, and alerts on its own channel.
func skipped(t *probe.Tick, s settings, b *baseline, m measured) {
	detail := redact.Error(m.Err)
	attrs := append([]any{"result", resultSkipped, "reason", m.Skip, "detail", detail, "learned", b.Learned, "warmup", s.Rules.Warmup}, coldAttrs(m)...)
	if m.Asked != "" {
		attrs = append(attrs, "model", m.Asked)
	}
	t.Log.Warn("pace_sample", attrs...)
	if m.Skip == string(openai.Auth) {
		t.Unknown(CheckAuth, "auth_refused", "the council refused the probe's credentials: "+detail)
		return
	}
	t.SetExit(probe.ExitUnknown, fmt.Sprintf("skipped (%s): %s", m.Skip, detail))
}

// relearn starts a new baseline for a new key (the operator's --model, or
// the backend) or on --baseline-reset. The pace channels are left as they
// are: a reset is no evidence that the server recovered, so it never sends
// a recovery (a channel recovers on a judged sample within its limit).
func relearn(t *probe.Tick, b *baseline, key baselineKey, why string) {
	if b.Model != "" || why == "operator" {
		t.Log.Info("baseline_reset", "reason", why,
			"old_model", redact.String(b.Model), "model", key.Model, "old_backend", b.Backend, "backend", key.Backend,
			"learned", b.Learned)
	}
	*b = baseline{Model: key.Model, Backend: key.Backend}
}

// sampleAttrs are pace_sample's fields.
func sampleAttrs(s settings, b *baseline, m measured, v verdict) []any {
	a := []any{
		"model", m.Asked,
		"ttft_ms", ms(m.Sample.TTFT), "total_ms", m.Total.Milliseconds(),
		"completion_tokens", m.CompletionTokens, "token_events", m.TokenEvents,
		"learned", b.Learned, "warmup", s.Rules.Warmup, "baseline_samples", len(b.TTFT),
	}
	if m.Model != "" && m.Model != m.Asked {
		// The server named the model otherwise: its word, not the key.
		a = append(a, "served_model", m.Model)
	}
	if m.Fingerprint != "" {
		a = append(a, "system_fingerprint", m.Fingerprint)
	}
	if b.Backend != "" {
		a = append(a, "baseline_backend", b.Backend)
	}
	if m.PromptTokens >= 0 {
		a = append(a, "prompt_tokens", m.PromptTokens)
	}
	if m.PrefillTPS > 0 {
		a = append(a, "prefill_tps", round1(m.PrefillTPS))
	}
	if m.Sample.DecodeTPS > 0 {
		a = append(a, "decode_tps", round1(m.Sample.DecodeTPS))
	}
	if m.DecodeWhy != "" {
		a = append(a, "decode_unmeasured", m.DecodeWhy)
	}
	if m.TokensCounted {
		a = append(a, "tokens_counted", true)
	}
	if m.Partial {
		a = append(a, "partial", true)
	}
	if m.FinishReason != "" {
		a = append(a, "finish_reason", m.FinishReason)
	}
	if v.TTFTBase > 0 {
		a = append(a, "baseline_ttft_ms", ms(v.TTFTBase))
	}
	if v.DecodeBase > 0 {
		a = append(a, "baseline_decode_tps", round1(v.DecodeBase))
	}
	if v.TTFTRatio > 0 {
		a = append(a, "ttft_ratio", round2(v.TTFTRatio))
	}
	if v.DecodeRatio > 0 {
		a = append(a, "decode_ratio", round2(v.DecodeRatio))
	}
	if v.TTFTAnchor > 0 {
		a = append(a, "anchor_ttft_ms", ms(v.TTFTAnchor), "ttft_anchor_ratio", round2(v.TTFTAnchorRatio))
	}
	if v.DecodeAnchor > 0 {
		a = append(a, "anchor_decode_tps", round1(v.DecodeAnchor), "decode_anchor_ratio", round2(v.DecodeAnchorRatio))
	}
	if m.Busy > 0 {
		a = append(a, "busy_requests", m.Busy)
	}
	if busy, reason := m.busy(); busy {
		a = append(a, "busy_reason", reason)
	}
	if m.BusyRequests > 0 {
		a = append(a, "busy_server_requests", m.BusyRequests, "busy_detail", m.BusyWhy)
	}
	if m.BusyErr != "" {
		a = append(a, "busy_scan_error", redact.String(m.BusyErr))
	}
	a = append(a, m.CPU.attrs()...)
	return append(a, coldAttrs(m)...)
}

// The textfile series, one family each, labelled by model.
const (
	metricTTFT           = "council_pace_ttft_seconds"
	metricDecode         = "council_pace_decode_tokens_per_second"
	metricPrefill        = "council_pace_prefill_tokens_per_second"
	metricTTFTBaseline   = "council_pace_ttft_baseline_seconds"
	metricDecodeBaseline = "council_pace_decode_baseline_tokens_per_second"
	metricTTFTRatio      = "council_pace_ttft_ratio"
	metricDecodeRatio    = "council_pace_decode_ratio"
	metricTTFTAnchor     = "council_pace_ttft_anchor_seconds"
	metricDecodeAnchor   = "council_pace_decode_anchor_tokens_per_second"
)

// output adds the perfdata and the textfile series of a measured sample,
// labelled with the baseline's model (the operator's, cleaned and bounded:
// never a server's megabyte).
func output(t *probe.Tick, m measured, v verdict) {
	model := m.Asked
	t.Perf("ttft_ms", float64(ms(m.Sample.TTFT)), "ms")
	t.Gauge(metricTTFT, "Time to first token of the pace probe's last sample.", m.Sample.TTFT, "model", model)
	if m.Sample.DecodeTPS > 0 {
		t.Perf("decode_tps", round1(m.Sample.DecodeTPS), "")
		t.Gauge(metricDecode, "Decode speed of the pace probe's last sample, after the first token.", m.Sample.DecodeTPS, "model", model)
	}
	if m.PrefillTPS > 0 {
		t.Perf("prefill_tps", round1(m.PrefillTPS), "")
		t.Gauge(metricPrefill, "Prompt tokens over the time to first token of the pace probe's last sample.", m.PrefillTPS, "model", model)
	}
	if v.TTFTBase > 0 {
		t.Gauge(metricTTFTBaseline, "The usual time to first token: the baseline median (or pinned value).", v.TTFTBase, "model", model)
	}
	if v.DecodeBase > 0 {
		t.Gauge(metricDecodeBaseline, "The usual decode speed: the baseline median (or pinned value).", v.DecodeBase, "model", model)
	}
	if v.TTFTRatio > 0 {
		t.Perf("ttft_ratio", round2(v.TTFTRatio), "")
		t.Gauge(metricTTFTRatio, "Time to first token over its baseline (above the TTFT factor is degraded).", v.TTFTRatio, "model", model)
	}
	if v.DecodeRatio > 0 {
		t.Perf("decode_ratio", round2(v.DecodeRatio), "")
		t.Gauge(metricDecodeRatio, "Decode speed over its baseline (below the decode factor is degraded).", v.DecodeRatio, "model", model)
	}
	if v.TTFTAnchor > 0 {
		t.Gauge(metricTTFTAnchor, "The long-term anchor of the time to first token: the best baseline median of the first judged day.", v.TTFTAnchor, "model", model)
	}
	if v.DecodeAnchor > 0 {
		t.Gauge(metricDecodeAnchor, "The long-term anchor of the decode speed: the best baseline median of the first judged day.", v.DecodeAnchor, "model", model)
	}
	coldOutput(t, m)
}

// speeds is the human summary: "TTFT 0.41 s (1.1x usual), decode 31.2
// tok/s (0.97x usual)".
func speeds(m measured, v verdict) string {
	s := "TTFT " + secs(m.Sample.TTFT)
	if v.TTFTRatio > 0 {
		s += fmt.Sprintf(" (%.2gx usual)", v.TTFTRatio)
	}
	if m.Sample.DecodeTPS > 0 {
		s += fmt.Sprintf(", decode %.1f tok/s", m.Sample.DecodeTPS)
		if v.DecodeRatio > 0 {
			s += fmt.Sprintf(" (%.2gx usual)", v.DecodeRatio)
		}
	} else {
		s += ", decode not measured"
	}
	return s + " (" + m.Asked + ")"
}

func tps(x float64) string { return fmt.Sprintf("%.1f tok/s", x) }

func secs(x float64) string { return fmt.Sprintf("%.2f s", x) }

func ms(x float64) int64 { return int64(math.Round(x * 1000)) }

func round1(x float64) float64 { return math.Round(x*10) / 10 }

func round2(x float64) float64 { return math.Round(x*100) / 100 }
