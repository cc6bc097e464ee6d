package pace

import (
	"slices"
)

// The baseline is what "usual" means for one model on one server: the
// median of the last Rules.Samples healthy samples, kept separately for the
// time to first token and for the decode speed. It must survive the failure
// it is there to catch, so it follows three rules:
//
//  1. Degraded samples never enter it. A server at half speed for a day
//     would otherwise become the new normal and stop alerting.
//  2. It follows a faster server at once, and a slower one only within a
//     band. A healthy sample (not past a factor) that is faster than the
//     median, or slower by at most SlowBand (10%), enters as measured; a
//     sample slower than that is judged (and still healthy if inside the
//     factor) but not learned. So a server that slows down 5% per tick
//     cannot drag the baseline along: after a tick or two its samples
//     leave the band and stop being learned, the baseline stays what it was
//     before the decline, and the decline is caught at the tick its speed
//     crosses the factor measured against that baseline. Jitter and slow
//     drifts inside the band are learned as usual. The price: a server that
//     became more than 10% slower for good keeps being compared with its
//     old speed (it alerts only if it is also past a factor); pin the
//     baseline, or let a model or server change relearn it.
//  3. The median, not the mean, so one odd sample moves nothing.
//  4. A long-term anchor beside the rolling median (anchor.go): the best
//     median of the first Rules.Samples judged samples, kept until
//     --baseline-reset or a model change. Every sample is judged against
//     both, and is degraded when it passes a factor against either. Rule 2
//     alone still learns a leak that creeps inside the band (samples at
//     1.0999x the median reach 3x in 535 ticks; a memory or swap leak is
//     exactly this); the anchor does not move with it.
//
// The first Rules.Warmup samples only learn (they enter as measured); a
// pinned value (--baseline-ttft, --baseline-decode) replaces the learned
// median of its measure and judges from the first sample.

// slowBand bounds how much slower than the median a learned sample may be:
// see rule 2 above.
const slowBand = 1.10

// Defaults of the baseline rules.
const (
	defaultBaselineSamples = 96 // a day of ticks at the 15-minute interval
	defaultWarmup          = 6
	defaultTTFTFactor      = 2.5
	defaultDecodeFactor    = 0.5
)

// rules are the baseline settings.
type rules struct {
	// Samples is the window: how many healthy samples the median is over.
	Samples int
	// Warmup is how many samples only learn before any is judged.
	Warmup int
	// TTFTFactor: a sample is degraded when its TTFT exceeds this times
	// the baseline.
	TTFTFactor float64
	// DecodeFactor: a sample is degraded when its decode speed falls below
	// this times the baseline.
	DecodeFactor float64
	// PinnedTTFT (seconds) and PinnedDecode (tokens/s), when positive,
	// replace the learned medians.
	PinnedTTFT   float64
	PinnedDecode float64
}

// sample is one tick's measurement. A zero DecodeTPS means the decode speed
// could not be measured (fewer than two tokens, or all in one chunk): it is
// neither judged nor learned.
type sample struct {
	TTFT      float64 // seconds from the request to the first token
	DecodeTPS float64 // tokens per second after the first token
}

// baseline is the learned state of one key, persisted between ticks. Its
// key is the operator's (see baselineKey): what the server says about
// itself never selects or resets it.
type baseline struct {
	// Model and Backend are the key the baseline was learned for.
	Model   string `json:"model"`
	Backend string `json:"backend,omitempty"`
	// TTFT (seconds) and Decode (tokens/s) are the windows, oldest first.
	TTFT   []float64 `json:"ttft_seconds"`
	Decode []float64 `json:"decode_tps"`
	// Learned counts the samples learned since the last reset; the
	// warmup is over once it reaches Rules.Warmup.
	Learned int `json:"learned"`
	// Anchor is the long-term reference (rule 4).
	Anchor anchor `json:"anchor,omitzero"`
}

// verdict is what the rules make of one sample.
type verdict struct {
	// Learning: no judged measure yet (warmup, nothing pinned).
	Learning bool
	// TTFTBase (seconds) and DecodeBase (tokens/s): the medians (or pinned
	// values) the sample was compared with; 0 when there is none yet.
	TTFTBase, DecodeBase float64
	// TTFTRatio and DecodeRatio: the sample over the base (1.1 = 10%
	// slower TTFT, 0.9 = 10% slower decode); 0 when not comparable.
	TTFTRatio, DecodeRatio float64
	// TTFTAnchor and DecodeAnchor: the anchor the sample was also compared
	// with, and the ratios to it; 0 when there is none (yet, or pinned).
	TTFTAnchor, DecodeAnchor           float64
	TTFTAnchorRatio, DecodeAnchorRatio float64
	// TTFTJudged, DecodeJudged: the measure was judged this tick.
	TTFTJudged, DecodeJudged bool
	// TTFTDegraded, DecodeDegraded: judged and past its factor.
	TTFTDegraded, DecodeDegraded bool
}

// Degraded reports whether either measure is degraded.
func (v verdict) Degraded() bool { return v.TTFTDegraded || v.DecodeDegraded }

// Compare computes the bases and ratios of s without judging it: for a
// busy sample, which is measured and logged but never judged or learned.
func (r rules) Compare(b *baseline, s sample) verdict {
	var v verdict
	v.TTFTBase = r.ttftBase(b)
	v.DecodeBase = r.decodeBase(b)
	if v.TTFTBase > 0 && s.TTFT > 0 {
		v.TTFTRatio = s.TTFT / v.TTFTBase
	}
	if v.DecodeBase > 0 && s.DecodeTPS > 0 {
		v.DecodeRatio = s.DecodeTPS / v.DecodeBase
	}
	r.compareAnchor(b, s, &v)
	return v
}

// Observe judges s against b and then learns it into b unless it is
// degraded. A measure is judged once it is pinned or the warmup is over.
func (r rules) Observe(b *baseline, s sample) verdict {
	v := r.Compare(b, s)
	warm := b.Learned >= r.Warmup
	v.TTFTJudged = v.TTFTRatio > 0 && (warm || r.PinnedTTFT > 0)
	v.DecodeJudged = v.DecodeRatio > 0 && (warm || r.PinnedDecode > 0)
	v.TTFTDegraded = v.TTFTJudged && (v.TTFTRatio > r.TTFTFactor || v.TTFTAnchorRatio > r.TTFTFactor)
	v.DecodeDegraded = v.DecodeJudged && (v.DecodeRatio < r.DecodeFactor || (v.DecodeAnchorRatio > 0 && v.DecodeAnchorRatio < r.DecodeFactor))
	v.Learning = !v.TTFTJudged && !v.DecodeJudged
	if !v.Degraded() {
		r.learn(b, s, warm)
	}
	if !v.Learning {
		r.shapeAnchor(b)
	}
	return v
}

// learn adds a healthy sample to the windows: every sample during the
// warmup, after it only those within SlowBand of the median or faster.
// Learned counts the samples that taught the baseline something.
func (r rules) learn(b *baseline, s sample, warm bool) {
	learned := false
	if m := median(b.TTFT); s.TTFT > 0 && (!warm || m <= 0 || s.TTFT <= m*slowBand) {
		b.TTFT = push(b.TTFT, s.TTFT, r.Samples)
		learned = true
	}
	if m := median(b.Decode); s.DecodeTPS > 0 && (!warm || m <= 0 || s.DecodeTPS >= m/slowBand) {
		b.Decode = push(b.Decode, s.DecodeTPS, r.Samples)
		learned = true
	}
	if learned {
		b.Learned++
	}
}

func (r rules) ttftBase(b *baseline) float64 {
	if r.PinnedTTFT > 0 {
		return r.PinnedTTFT
	}
	return median(b.TTFT)
}

func (r rules) decodeBase(b *baseline) float64 {
	if r.PinnedDecode > 0 {
		return r.PinnedDecode
	}
	return median(b.Decode)
}

// push appends x and keeps the newest n values.
func push(w []float64, x float64, n int) []float64 {
	w = append(w, x)
	if n > 0 && len(w) > n {
		w = append(w[:0:0], w[len(w)-n:]...)
	}
	return w
}

// median of w; 0 for an empty window.
func median(w []float64) float64 {
	if len(w) == 0 {
		return 0
	}
	s := slices.Clone(w)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
