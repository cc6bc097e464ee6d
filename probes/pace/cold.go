package pace

import (
	"context"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/server/openai"
)

// A cold model is not a slow server. Ollama unloads a model after 5
// minutes idle by default, shorter than pace's 15, so on a default Ollama
// every sample would include loading the weights, and the TTFT would be
// the load time: degraded every tick, or a baseline learned from loads.
//
// Where the backend says which models are loaded (Ollama /api/ps, LM
// Studio, llama-server's sleep), a model that is not loaded just before
// the sample is loaded first, explicitly, by a one-token chat that is
// timed: that time (the load and one token) is the sample's load figure,
// reported on its own (load_ms, council_pace_load_seconds). The sample
// that follows is measured and its decode judged and learned as any
// other; its time to first token is reported but neither judged nor
// learned: the first prompt a freshly loaded model processes is slower
// than usual (a real Ollama's runner sets up its buffers then; measured
// 3.7x the usual TTFT on the tiny model of the real tier).
//
// Why load explicitly rather than only mark the sample: the load is then
// measured, not estimated (the TTFT minus the usual TTFT would mix the
// load with that first prefill), the decode keeps being judged on a
// default Ollama where every tick is cold, and the load is an ordinary
// chat, no server's write endpoint. Its cost is one tiny request, on cold
// ticks only.

// loadPrompt is the one-token chat that loads a cold model.
const loadPrompt = "Hi"

// warmIfCold loads model first when the server says it is not loaded (see
// above). false means the sample cannot go on: the load failed, and m
// says why (skipped, like any failure of the server).
func (sp sampler) warmIfCold(ctx context.Context, model string, m *measured) bool {
	if sp.Resident == nil {
		return true
	}
	resident, known := sp.Resident(ctx, model)
	if !known || resident {
		return true
	}
	m.Cold = true
	res, err := sp.Client.Chat(ctx, openai.UserPrompt(model, loadPrompt, 1))
	m.Load = res.Timings.Total()
	if err != nil {
		m.Skip, m.Err = skipReason(err), fmt.Errorf("loading %s (not loaded before the sample): %w", model, err)
		return false
	}
	return true
}

// residentFunc asks the tick's backend whether a model is loaded; nil
// where the backend cannot tell (generic).
func residentFunc(t *probe.Tick) func(ctx context.Context, model string) (bool, bool) {
	if t.Server == nil || t.Backend.Kind == backend.Generic {
		return nil
	}
	return func(ctx context.Context, model string) (bool, bool) {
		return t.ModelResident(ctx, model, metricsTimeout)
	}
}

// metricLoad is the series of a cold sample's load time.
const metricLoad = "council_pace_load_seconds"

// coldAttrs are the cold sample's pace_sample fields.
func coldAttrs(m measured) []any {
	if !m.Cold {
		return nil
	}
	return []any{"cold", true, "load_ms", m.Load.Milliseconds()}
}

// coldOutput adds the load figure to the perfdata and the textfile: only
// on a tick that loaded the model (a warm tick has no load to report).
func coldOutput(t *probe.Tick, m measured) {
	if !m.Cold {
		return
	}
	t.Perf("load_ms", float64(m.Load.Milliseconds()), "ms")
	t.Gauge(metricLoad, "Time the pace probe took to load its model, not loaded before the sample (a one-token chat).", m.Load.Seconds(), "model", m.Asked)
}

// coldSummary prefixes the human summary of a sample that loaded its model.
func coldSummary(m measured) string {
	if !m.Cold {
		return ""
	}
	return fmt.Sprintf("model loaded first in %s (it was not loaded); ", m.Load.Round(10*time.Millisecond))
}

// observe judges and learns m: a cold sample's time to first token (the
// first prompt after the load) is compared for the record, never judged
// or learned; its decode is, as any sample's.
func observe(r rules, b *baseline, m measured) verdict {
	if !m.Cold {
		return r.Observe(b, m.Sample)
	}
	judged := m.Sample
	judged.TTFT = 0
	before := r.Compare(b, m.Sample)
	v := r.Observe(b, judged)
	v.TTFTBase, v.TTFTRatio = before.TTFTBase, before.TTFTRatio
	return v
}
