package pace

import "testing"

// observe: a cold sample's first token (the first prompt after the load)
// is compared for the record but neither judged nor learned; its decode
// is judged and learned as any sample's.
func TestObserveColdSample(t *testing.T) {
	r := rules{Samples: 10, Warmup: 2, TTFTFactor: 2.5, DecodeFactor: 0.5}
	warmBase := func() *baseline {
		return &baseline{Model: "m", TTFT: []float64{0.05, 0.05}, Decode: []float64{700, 700}, Learned: 2}
	}

	b := warmBase()
	v := observe(r, b, measured{Cold: true, Sample: sample{TTFT: 0.2, DecodeTPS: 690}})
	if v.Degraded() || v.TTFTJudged || !v.DecodeJudged || v.TTFTRatio < 3.9 {
		t.Errorf("cold, slow first token: %+v; want the TTFT compared (4x) but not judged, the decode judged", v)
	}
	if len(b.TTFT) != 2 || len(b.Decode) != 3 {
		t.Errorf("baseline %+v: want the decode learned, the first token not", b)
	}

	b = warmBase()
	if v := observe(r, b, measured{Cold: true, Sample: sample{TTFT: 0.05, DecodeTPS: 100}}); !v.DecodeDegraded {
		t.Errorf("cold, slow decode: %+v; want decode_degraded", v)
	}

	b = warmBase()
	if v := observe(r, b, measured{Sample: sample{TTFT: 0.2, DecodeTPS: 690}}); !v.TTFTDegraded {
		t.Errorf("warm, slow first token: %+v; want ttft_degraded", v)
	}
}
