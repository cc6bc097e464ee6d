package pace

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func defaultRules() rules {
	return rules{Samples: defaultBaselineSamples, Warmup: defaultWarmup, TTFTFactor: defaultTTFTFactor, DecodeFactor: defaultDecodeFactor}
}

// code is a one-letter verdict for the tables: L learning, H healthy, T ttft
// degraded, D decode degraded, B both.
func code(v verdict) string {
	switch {
	case v.TTFTDegraded && v.DecodeDegraded:
		return "B"
	case v.TTFTDegraded:
		return "T"
	case v.DecodeDegraded:
		return "D"
	case v.Learning:
		return "L"
	}
	return "H"
}

func repeat(s sample, n int) []sample {
	out := make([]sample, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func seq(parts ...[]sample) []sample {
	var out []sample
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var usual = sample{TTFT: 0.4, DecodeTPS: 30}

// TestObserve runs sequences of samples through the rules and checks the
// verdict of each, and the baseline left behind.
func TestObserve(t *testing.T) {
	pinned := defaultRules()
	pinned.PinnedTTFT, pinned.PinnedDecode = 0.5, 20
	pinnedTTFT := defaultRules()
	pinnedTTFT.PinnedTTFT = 0.5
	small := defaultRules()
	small.Samples = 4
	three := defaultRules()
	three.Samples = 3
	tests := []struct {
		name       string
		rules      rules
		samples    []sample
		want       string
		wantTTFT   float64 // baseline median after the sequence
		wantDecode float64
	}{
		{"warmup only learns, then healthy", defaultRules(), repeat(usual, 8), "LLLLLLHH", 0.4, 30},
		{"warmup learns even a slow sample", defaultRules(),
			seq(repeat(usual, 2), []sample{{TTFT: 4, DecodeTPS: 3}}, repeat(usual, 4)), "LLLLLLH", 0.4, 30},
		{"ttft x4 is degraded and not learned", defaultRules(),
			seq(repeat(usual, 6), repeat(sample{TTFT: 1.6, DecodeTPS: 30}, 3), repeat(usual, 1)), "LLLLLLTTTH", 0.4, 30},
		{"decode /3 is degraded and not learned", defaultRules(),
			seq(repeat(usual, 6), repeat(sample{TTFT: 0.4, DecodeTPS: 10}, 3), repeat(usual, 1)), "LLLLLLDDDH", 0.4, 30},
		{"both at once", defaultRules(),
			seq(repeat(usual, 6), []sample{{TTFT: 2, DecodeTPS: 5}}), "LLLLLLB", 0.4, 30},
		{"exactly the factor is not degraded", defaultRules(),
			seq(repeat(usual, 6), []sample{{TTFT: 1.0, DecodeTPS: 15}}), "LLLLLLH", 0.4, 30},
		{"unmeasured decode is neither judged nor learned", defaultRules(),
			seq(repeat(usual, 6), []sample{{TTFT: 0.4}}), "LLLLLLH", 0.4, 30},
		{"a faster server is followed at once", small,
			seq(repeat(usual, 6), repeat(sample{TTFT: 0.2, DecodeTPS: 60}, 4)), "LLLLLLHHHH", 0.2, 60},
		{"a slower healthy sample within the band is learned", three,
			seq(repeat(usual, 6), repeat(sample{TTFT: 0.43, DecodeTPS: 28}, 2)), "LLLLLLHH", 0.43, 28},
		{"a slower healthy sample beyond the band is judged, not learned", defaultRules(),
			seq(repeat(usual, 6), repeat(sample{TTFT: 0.8, DecodeTPS: 20}, 8)), "LLLLLLHHHHHHHH", 0.4, 30},
		{"pinned baselines judge from the first sample", pinned,
			[]sample{{TTFT: 1.3, DecodeTPS: 25}, {TTFT: 0.4, DecodeTPS: 9}, usual}, "TDH", 0.4, 30},
		{"a pinned TTFT judges while the decode learns", pinnedTTFT,
			[]sample{{TTFT: 1.3, DecodeTPS: 25}, usual, usual}, "THH", 0.4, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b baseline
			var got strings.Builder
			for _, s := range tt.samples {
				got.WriteString(code(tt.rules.Observe(&b, s)))
			}
			if got.String() != tt.want {
				t.Errorf("verdicts %s, want %s", got.String(), tt.want)
			}
			if m := median(b.TTFT); !near(m, tt.wantTTFT) {
				t.Errorf("TTFT baseline %g, want %g (window %v)", m, tt.wantTTFT, b.TTFT)
			}
			if m := median(b.Decode); !near(m, tt.wantDecode) {
				t.Errorf("decode baseline %g, want %g (window %v)", m, tt.wantDecode, b.Decode)
			}
			if n := tt.rules.Samples; len(b.TTFT) > n || len(b.Decode) > n {
				t.Errorf("windows of %d and %d samples, want at most %d", len(b.TTFT), len(b.Decode), n)
			}
		})
	}
}

// TestPinnedTTFTLearningVerdict: with only TTFT pinned, the sample is judged
// on TTFT at once, while the decode is still learning, so the verdict is not
// "learning".
func TestPinnedTTFTLearningVerdict(t *testing.T) {
	r := defaultRules()
	r.PinnedTTFT = 0.5
	var b baseline
	v := r.Observe(&b, usual)
	if v.Learning || !v.TTFTJudged || v.DecodeJudged || !near(v.TTFTRatio, 0.8) {
		t.Errorf("verdict %+v", v)
	}
}

// TestSlowDecline: a server that gets 5% slower every tick (TTFT up, or
// decode down) must be caught within 3 ticks of the tick at which it
// crosses the factor measured against the baseline from before the
// decline. A baseline that learned every healthy sample as measured would
// follow the decline and never alert.
func TestSlowDecline(t *testing.T) {
	for _, before := range []int{1, 3, defaultWarmup, 20, defaultBaselineSamples + 10} {
		for _, measure := range []string{"ttft", "decode"} {
			t.Run(measure+"/"+strconv.Itoa(before)+" samples before", func(t *testing.T) {
				r := defaultRules()
				r.Warmup = min(before, defaultWarmup)
				var b baseline
				for range before {
					r.Observe(&b, usual)
				}
				crossed, caught := -1, -1
				for k := 1; k <= 60 && caught < 0; k++ {
					s := usual
					if measure == "ttft" {
						s.TTFT = usual.TTFT * math.Pow(1.05, float64(k))
						if crossed < 0 && s.TTFT > usual.TTFT*r.TTFTFactor {
							crossed = k
						}
					} else {
						s.DecodeTPS = usual.DecodeTPS * math.Pow(0.95, float64(k))
						if crossed < 0 && s.DecodeTPS < usual.DecodeTPS*r.DecodeFactor {
							crossed = k
						}
					}
					if r.Observe(&b, s).Degraded() {
						caught = k
					}
				}
				if crossed < 0 || caught < 0 || caught >= crossed+3 {
					t.Fatalf("crossed the factor at tick %d, caught at tick %d: want within 3 ticks", crossed, caught)
				}
				t.Logf("crossed at tick %d, caught at tick %d", crossed, caught)
			})
		}
	}
}

// TestChangedKey: the operator's model, or a known backend kind replaced by
// another, relearns; a backend unknown on either side (generic, or a
// baseline from before backends were recorded) does not.
func TestChangedKey(t *testing.T) {
	b := baseline{Model: "m1", Backend: "ollama"}
	tests := []struct {
		key  baselineKey
		want string
	}{
		{baselineKey{"m1", "ollama"}, ""},
		{baselineKey{"m1", ""}, ""},
		{baselineKey{"m2", "ollama"}, "model"},
		{baselineKey{"m1", "vllm"}, "backend"},
	}
	for _, tt := range tests {
		if why := b.changedKey(tt.key); why != tt.want {
			t.Errorf("changedKey(%+v) = %q, want %q", tt.key, why, tt.want)
		}
	}
	if why := (&baseline{Model: "m1"}).changedKey(baselineKey{"m1", "vllm"}); why != "" {
		t.Errorf("a first backend counted as a change: %q", why)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %g, want %g", tt.in, got, tt.want)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
