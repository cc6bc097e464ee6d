package openai

import "time"

// DefaultMaxGaps bounds the inter-token gaps a result keeps: enough for a
// few hundred tokens, small enough for any answer.
const DefaultMaxGaps = 1024

// Timings are the stages of one request on the client's clock. A stage not
// reached is the zero time.
type Timings struct {
	// Start is when the request was sent.
	Start time.Time
	// Connected is when a connection was ready (new or reused).
	Connected time.Time
	// FirstByte is when the first byte of the response arrived.
	FirstByte time.Time
	// FirstToken and LastToken are when the first and the last stream
	// event carrying a content or reasoning token arrived (for a JSON
	// answer, both are End: the whole answer arrives at once).
	FirstToken, LastToken time.Time
	// FirstContent is when the first non-empty content token arrived
	// (reasoning excluded).
	FirstContent time.Time
	// End is when the exchange ended: the body read, [DONE], or the
	// failure.
	End time.Time
	// Gaps are the times between consecutive token events, the first
	// Client.MaxGaps of them; GapCount counts all, MaxGap is the longest.
	Gaps     []time.Duration
	GapCount int
	MaxGap   time.Duration
	// TokenReads counts the reads of the stream's body that delivered
	// token events. Tokens that arrived in one read (a buffered answer)
	// were timed by the client's parsing, not by the server: their gaps
	// and Decode measure nothing.
	TokenReads int
}

// TTFB is the time from the request to the first response byte (0 when
// none arrived).
func (t Timings) TTFB() time.Duration { return since(t.Start, t.FirstByte) }

// TTFT is the time from the request to the first token, content or
// reasoning (0 when none arrived).
func (t Timings) TTFT() time.Duration { return since(t.Start, t.FirstToken) }

// Total is the time from the request to its end.
func (t Timings) Total() time.Duration { return since(t.Start, t.End) }

// Decode is the time from the first to the last token.
func (t Timings) Decode() time.Duration { return since(t.FirstToken, t.LastToken) }

func since(from, to time.Time) time.Duration {
	if from.IsZero() || to.IsZero() {
		return 0
	}
	return to.Sub(from)
}

// token records a token event at now.
func (t *Timings) token(now time.Time, maxGaps int) {
	if t.FirstToken.IsZero() {
		t.FirstToken, t.LastToken = now, now
		return
	}
	gap := now.Sub(t.LastToken)
	t.LastToken = now
	t.GapCount++
	if gap > t.MaxGap {
		t.MaxGap = gap
	}
	if len(t.Gaps) < maxGaps {
		t.Gaps = append(t.Gaps, gap)
	}
}
