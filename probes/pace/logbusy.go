package pace

import (
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/host/accesslog"
	"github.com/sanctum/council-probes/pkg/server/openai"
)

// A sample is busy by the primary's log when the log shows another
// client's request during it. What "during" means is what was written to
// the log between the moment the probe sent its request and the end of its
// answer: the log is marked just before the request and read from the
// mark after it. That needs no date in the lines, and llama-server's and
// uvicorn's request lines carry none; nor does it trust a server's clock
// or time zone (Ollama's gin lines are local time, to the second). A dated
// line that ended before the sample began (logged late) is left out.

// ownSkew is how much earlier than the probe's clock says it sent its
// request the server may date the request's start: the access log has
// millisecond timestamps and durations, each cut, not rounded.
const ownSkew = 5 * time.Millisecond

// ownMargin, for access logs without durations: a completion dated this
// close to the last token may be the probe's own.
const ownMargin = 50 * time.Millisecond

// logMark is the primary log's end just before the probe's request.
type logMark struct {
	mark accesslog.Mark
	err  error
}

func markLog(s settings) logMark {
	if s.PrimaryLog == "" {
		return logMark{}
	}
	m, err := accesslog.MarkEnd(s.PrimaryLog)
	return logMark{mark: m, err: err}
}

// busyDuring counts the requests of other clients the primary's log shows
// during the sample (see above). The probe's own request is in the log
// too, once the server has logged it; it is recognised and not counted
// (see ownRequest). A log that does not exist yet is not busy; one that
// cannot be read is reported, and the sample is judged as if not busy
// (the log is evidence of other work, not a precondition).
func busyDuring(s settings, lm logMark, tm openai.Timings) (int, string) {
	if lm.err != nil {
		return 0, lm.err.Error()
	}
	lines, err := accesslog.Appended(s.PrimaryLog, lm.mark, s.TailBytes)
	if err != nil {
		return 0, err.Error()
	}
	var rs []accesslog.Request
	for _, r := range accesslog.Requests(lines, s.BusyMarker, s.BusyIgnore) {
		if r.Dated() && r.Latest().Before(tm.Start.Add(-ownSkew)) {
			continue // ended before the probe sent its request, logged late
		}
		rs = append(rs, r)
	}
	if ownRequest(rs, tm) >= 0 {
		return len(rs) - 1, ""
	}
	return len(rs), ""
}

// ownRequest returns the index of the probe's own request among rs (newest
// first), or -1. Only a chat completion can be the probe's. With a date and
// a duration in the line, it is the request that began between the probe
// sending it and the first token, and ended after the first token (each
// instant widened by the line's precision: gin writes whole seconds):
// another client's request would have to start in that same window and
// outlast the prefill to be taken for it, and then the sample is busy
// anyway by the other lines. With a date and no duration, the newest line
// dated within ownMargin of the last token (or after it) is the probe's:
// the client may read the last token after the server logged the request.
// With a duration and no date, a request no longer than the probe's whole
// sample may be the probe's. With neither (llama-server, uvicorn), one
// chat line is taken for the probe's own: such a server's concurrent work
// shows in its /metrics (llama-server, vLLM) and in its CPU before the
// sample (cpubusy.go).
func ownRequest(rs []accesslog.Request, tm openai.Timings) int {
	for i, r := range rs {
		if r.Path != "" && !strings.HasSuffix(r.Path, "/chat/completions") {
			continue
		}
		switch {
		case r.Dated() && r.HasDuration:
			earliestStart, latestStart := r.Start(), r.Latest().Add(-r.Duration)
			if !latestStart.Before(tm.Start.Add(-ownSkew)) && !earliestStart.After(tm.FirstToken) && !r.Latest().Before(tm.FirstToken.Add(-ownSkew)) {
				return i
			}
		case r.Dated():
			if !r.Latest().Before(tm.LastToken.Add(-ownMargin)) {
				return i
			}
		case r.HasDuration:
			if r.Duration <= tm.Total()+ownSkew {
				return i
			}
		default:
			return i
		}
	}
	return -1
}
