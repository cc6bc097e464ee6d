package pace

import (
	"fmt"
	"math"
	"testing"
)

// leak is a slowdown that creeps: slower gives how many times slower than
// the usual the sample of tick k (from 1) is; m is the measure's median as
// the baseline stands (for a leak that stays just inside the band).
type leak struct {
	name   string
	ticks  int
	slower func(k int, m float64) float64
}

// leaks are the slowdowns a rolling median alone learns: a steady leak to
// 3x over 7 days (672 ticks at 15 minutes), samples at 1.0999x the median
// (just inside the 10% band: they reach 3x in 535 ticks), and a
// 1.09x-per-tick climb.
var leaks = []leak{
	{"7-day leak to 3x", 7 * 96, func(k int, _ float64) float64 { return math.Pow(3, float64(k)/(7*96)) }},
	{"1.0999x the median", 2000, func(_ int, m float64) float64 { return m * 1.0999 }},
	{"1.09x per tick", 200, func(k int, _ float64) float64 { return math.Pow(1.09, float64(k)) }},
}

// TestLeaksAreCaught replays each leak on the time to first token (up to
// 3x) and on the decode speed (down to a third), started after a short or
// a long healthy history, and checks that it is flagged degraded before
// the sample is 3x slower than the anchor (the server in its first judged
// day), and that the anchor did not creep with it.
func TestLeaksAreCaught(t *testing.T) {
	for _, lk := range leaks {
		for _, measure := range []string{"ttft", "decode"} {
			for _, before := range []int{defaultWarmup, defaultBaselineSamples + 10} {
				t.Run(fmt.Sprintf("%s/%s/%d samples before", lk.name, measure, before), func(t *testing.T) {
					r := defaultRules()
					var b baseline
					for range before {
						r.Observe(&b, usual)
					}
					at := 0
					for k := 1; k <= lk.ticks && at == 0; k++ {
						s := usual
						var x float64 // how much slower than the anchor
						if measure == "ttft" {
							s.TTFT = usual.TTFT * lk.slower(k, median(b.TTFT)/usual.TTFT)
							x = s.TTFT / b.Anchor.TTFT
						} else {
							s.DecodeTPS = usual.DecodeTPS / lk.slower(k, usual.DecodeTPS/median(b.Decode))
							x = b.Anchor.Decode / s.DecodeTPS
						}
						if r.Observe(&b, s).Degraded() {
							at = k
							if x >= 3 {
								t.Errorf("flagged at tick %d only, at %.2fx slower than the anchor", k, x)
							}
						}
					}
					if at == 0 {
						t.Fatalf("never flagged in %d ticks; medians %.3g s, %.3g tok/s; anchor %+v",
							lk.ticks, median(b.TTFT), median(b.Decode), b.Anchor)
					}
					if a := b.Anchor; a.TTFT > usual.TTFT*slowBand || a.Decode < usual.DecodeTPS/slowBand {
						t.Errorf("the anchor crept with the leak: %+v (usual %+v)", a, usual)
					}
					t.Logf("flagged at tick %d; medians %.3g s, %.3g tok/s; anchor %+v", at, median(b.TTFT), median(b.Decode), b.Anchor)
				})
			}
		}
	}
}

// TestAnchor: the anchor takes the best median of the first Samples judged
// samples and then stays; a pinned measure has none; a faster server
// moves it while it is shaped.
func TestAnchor(t *testing.T) {
	r := defaultRules()
	r.Samples, r.Warmup = 4, 2
	var b baseline
	for range 2 {
		r.Observe(&b, usual) // warmup: no anchor
	}
	if b.Anchor != (anchor{}) {
		t.Fatalf("anchor during the warmup: %+v", b.Anchor)
	}
	fast := sample{TTFT: 0.2, DecodeTPS: 60}
	for range 4 {
		r.Observe(&b, fast)
	}
	if a := b.Anchor; a.Judged != 4 || !near(a.TTFT, 0.2) || !near(a.Decode, 60) {
		t.Fatalf("anchor after 4 judged faster samples: %+v", a)
	}
	before := b.Anchor
	for range 10 {
		r.Observe(&b, sample{TTFT: 0.21, DecodeTPS: 58}) // learned, within the band
	}
	if b.Anchor != before {
		t.Errorf("the anchor moved after its window: %+v, was %+v", b.Anchor, before)
	}
	pinned := r
	pinned.PinnedTTFT = 1
	if v := pinned.Compare(&b, usual); v.TTFTAnchor != 0 || v.DecodeAnchor == 0 {
		t.Errorf("a pinned TTFT still compared with the anchor, or the decode not: %+v", v)
	}
}
