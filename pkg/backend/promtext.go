package backend

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is a parsed Prometheus text exposition, by family name.
type Families map[string]*dto.MetricFamily

// ParsePrometheus parses a /metrics body in the Prometheus text format
// with the Prometheus parser itself (expfmt), so a series is read the way
// Prometheus would read it.
func ParsePrometheus(body []byte) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %s", Words(err.Error()))
	}
	return fams, nil
}

// HasPrefix reports whether any family's name starts with prefix (vLLM's
// "vllm:", llama-server's "llamacpp:").
func (f Families) HasPrefix(prefix string) bool {
	for name := range f {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// Sum adds the samples of the first family in names that exists (a
// server exports one per engine or per model); nil when none exists or
// none has a finite value. Absent is not zero.
func (f Families) Sum(names ...string) *float64 {
	return f.reduce(names, func(a, b float64) float64 { return a + b })
}

// Max is Sum's counterpart for ratios (a KV cache is as full as its
// fullest engine).
func (f Families) Max(names ...string) *float64 {
	return f.reduce(names, math.Max)
}

func (f Families) reduce(names []string, op func(a, b float64) float64) *float64 {
	for _, name := range names {
		fam, ok := f[name]
		if !ok {
			continue
		}
		var acc *float64
		for _, m := range fam.GetMetric() {
			v, ok := sampleValue(m)
			if !ok {
				continue
			}
			if acc == nil {
				acc = float(v)
			} else {
				*acc = op(*acc, v)
			}
		}
		if acc != nil {
			return acc
		}
	}
	return nil
}

// sampleValue is a gauge's, counter's or untyped sample's finite value.
func sampleValue(m *dto.Metric) (float64, bool) {
	var v float64
	switch {
	case m.Gauge != nil:
		v = m.Gauge.GetValue()
	case m.Counter != nil:
		v = m.Counter.GetValue()
	case m.Untyped != nil:
		v = m.Untyped.GetValue()
	default:
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// families fetches and parses /metrics. A 404 (llama-server without
// --metrics answers 501 or 404) is "not exported": empty Families, no error.
func (h httpGetter) families(ctx context.Context) (Families, bool, error) {
	resp, err := h.get(ctx, "/metrics", maxMetricsBody)
	if err != nil {
		return nil, false, err
	}
	if resp.status != 200 {
		return Families{}, false, nil
	}
	if _, isErr := errorText(resp.body); isErr {
		// LM Studio's 200-with-error, or a JSON error: nothing exported.
		return Families{}, false, nil
	}
	fams, err := ParsePrometheus(resp.body)
	if err != nil {
		return nil, false, err
	}
	return fams, true, nil
}
