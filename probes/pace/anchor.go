package pace

// anchor is the baseline's long-term reference (rule 4 of the baseline):
// the best median of each measure over the first Rules.Samples judged
// samples, then fixed until --baseline-reset or a model change. The rolling
// median follows a server that slows inside the band a little at a time
// (a memory or swap leak); the anchor stays where the server was in its
// first judged day, so a leak is caught once a sample passes a factor
// against it, long before it is 3x slower.
type anchor struct {
	// TTFT is the lowest median time to first token (seconds) and Decode
	// the highest median decode speed (tokens/s) seen while shaping; 0
	// for none yet.
	TTFT   float64 `json:"ttft_seconds,omitempty"`
	Decode float64 `json:"decode_tps,omitempty"`
	// Judged counts the judged samples that shaped it; at Rules.Samples it
	// is fixed.
	Judged int `json:"judged,omitempty"`
}

// compareAnchor adds the anchor and the sample's ratios to it to v, for a
// measure that is not pinned (a pinned value replaces both references).
func (r rules) compareAnchor(b *baseline, s sample, v *verdict) {
	a := b.Anchor
	if r.PinnedTTFT <= 0 && a.TTFT > 0 && s.TTFT > 0 {
		v.TTFTAnchor, v.TTFTAnchorRatio = a.TTFT, s.TTFT/a.TTFT
	}
	if r.PinnedDecode <= 0 && a.Decode > 0 && s.DecodeTPS > 0 {
		v.DecodeAnchor, v.DecodeAnchorRatio = a.Decode, s.DecodeTPS/a.Decode
	}
}

// shapeAnchor takes the best of the anchor and the current medians, for
// each judged sample until Rules.Samples of them have: a judged sample,
// degraded or not, has already been compared, and the medians it leaves
// behind are what the anchor may keep.
func (r rules) shapeAnchor(b *baseline) {
	a := &b.Anchor
	if a.Judged >= max(r.Samples, 1) {
		return
	}
	a.Judged++
	if m := median(b.TTFT); m > 0 && (a.TTFT == 0 || m < a.TTFT) {
		a.TTFT = m
	}
	if m := median(b.Decode); m > 0 && m > a.Decode {
		a.Decode = m
	}
}
