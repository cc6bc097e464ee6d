package guardian

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/host/accesslog"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/backend"
)

// defaultTailBytes is how much of the end of the primary's log the busy and
// fatal-signature scans read.
const defaultTailBytes = accesslog.DefaultTailBytes

// defaultBusyMarker marks a completed request in the council's access log:
//
//	2026-11-27T01:02:03.456Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=12
const defaultBusyMarker = accesslog.DefaultMarker

// defaultBusyIgnore are substrings of completed-request lines that do not
// mean "busy serving work": the probes' own liveness requests and the
// backend adapters' questions (accesslog.IgnoreWithPaths). Without this
// the guardian would see its own last successful probe and defer the
// restart of a dead server by a whole busy window.
var defaultBusyIgnore = accesslog.IgnoreWithPaths(backend.AskedPaths...)

// fatalAction is what the guardian does when a fatal signature is the
// newest one in the primary's log and the primary does not serve.
type fatalAction string

// The actions of the fatal-signature table.
const (
	// actionPromote: the binary can never serve; restarting it only loops,
	// so the fallback is promoted.
	actionPromote fatalAction = "promote"
	// actionRestart: the process died of something a fresh start clears
	// (memory pressure, a GPU fault, one bad request); restart it, within
	// the rate limit. The signature is reported as the cause.
	actionRestart fatalAction = "restart"
)

// fatalSignature is one row of the built-in table: the log text
// (case-insensitive), what it calls for, and why.
type fatalSignature struct {
	Text   string
	Action fatalAction
	Why    string
}

// fatalSignatures is the built-in table, documented in docs/RELIABILITY.md
// ("Busy or wedged, and why it died"). The promote rows are the failures
// of a binary or its environment that a restart cannot change; the restart
// rows are crashes of a binary that served and can serve again.
var fatalSignatures = []fatalSignature{
	{"Failed to load the default metallib", actionPromote, "the Metal library is missing beside the binary: every start fails the same way"},
	{"library not found", actionPromote, "a dynamic library is missing: every start fails the same way"},
	{"Segmentation fault", actionPromote, "a segfault with no request served since: the binary crashes at start"},
	{"manifest verification failed", actionPromote, "the weights do not match their signed manifest"},
	{"signature invalid", actionPromote, "the binary's code signature is invalid"},
	{"Out of memory", actionPromote, "the weights do not fit: every load fails the same way"},
	{"address already in use", actionPromote, "another process holds the port; a restart would race it again"},
	{"kIOGPUCommandBufferCallbackErrorOutOfMemory", actionRestart, "Metal ran out of GPU memory under load; a fresh process starts with it free"},
	{"[METAL] Command buffer execution failed", actionRestart, "a GPU command buffer failed (usually memory pressure); a fresh process recovers"},
	{"Insufficient Memory", actionRestart, "Metal could not allocate under load; a fresh process recovers"},
	{"libc++abi: terminating", actionRestart, "an uncaught C++ exception ended the process; it served before and can again"},
	{"EngineDeadError", actionRestart, "vLLM's engine died; the server must be restarted to serve again"},
	{"CUDA out of memory", actionRestart, "the GPU ran out of memory under load; a fresh process starts with it free"},
	{"Abort trap", actionRestart, "the process aborted (SIGABRT) after serving; a restart recovers"},
	{"Bus error", actionRestart, "SIGBUS, often a memory-mapped weight file changed under the process; a restart remaps it"},
}

// signaturesFor lists the texts of the table's rows with action a.
func signaturesFor(a fatalAction) []string {
	var out []string
	for _, s := range fatalSignatures {
		if s.Action == a {
			out = append(out, s.Text)
		}
	}
	return out
}

// defaultFatalSignatures are log lines of a primary that can never serve
// (--fatal-signature): restarting it only loops, so the fallback is
// promoted.
var defaultFatalSignatures = signaturesFor(actionPromote)

// defaultRestartSignatures are log lines of a crash a restart recovers
// from (--restart-signature): they never promote, and a newer one of them
// overrides an older promote signature (the process got past the point
// where that one would have stopped it).
var defaultRestartSignatures = signaturesFor(actionRestart)

// maxCauseLines is how many matching log lines a restart or promotion
// alert carries as the cause, and maxCauseLine how long each may be.
const (
	maxCauseLines = 5
	maxCauseLine  = 200
)

// futureSkew is how far in the future a log timestamp may lie and still
// count (as age 0): a little clock skew between writers is normal, a line
// dated hours ahead is garbage and must not make the server look busy.
const futureSkew = 5 * time.Second

// readTail returns at most max bytes from the end of the log at path, in
// whole lines (see accesslog.ReadTail).
func readTail(path string, max int64) ([]byte, error) { return accesslog.ReadTail(path, max) }

// isNotExist reports whether err means the log does not exist (yet).
func isNotExist(err error) bool { return accesslog.IsNotExist(err) }

// primaryLogTail reads the end of the primary's log: the file
// --primary-log, or the service manager's journal of the primary when it
// is "journal". A missing log is empty, an unreadable one is logged and
// treated as empty.
func (g *guardian) primaryLogTail(ctx context.Context) []byte {
	path := g.t.Common.PrimaryLog
	if path == "" {
		return nil
	}
	if path == probe.PrimaryLogJournal {
		lr, ok := g.mgr.(service.LogReader)
		if !ok {
			g.t.Log.Warn("primary_log_unreadable", "path", path, "service_manager", string(g.mgr.Kind()),
				"error", "--primary-log journal: "+string(g.mgr.Kind())+" keeps no journal; give the log file's path")
			return nil
		}
		tail, err := lr.LogTail(ctx, g.t.Common.PrimaryLabel, g.s.TailBytes)
		if err != nil && ctx.Err() == nil {
			g.t.Log.Warn("primary_log_unreadable", "path", path, "label", g.t.Common.PrimaryLabel, "error", redact.Error(err))
		}
		return tail
	}
	tail, err := readTail(path, g.s.TailBytes)
	if err != nil && !isNotExist(err) {
		g.t.Log.Warn("primary_log_unreadable", "path", path, "error", err.Error())
	}
	return tail
}

// lastCompleted returns the time of the newest dated request line in tail
// (any format accesslog knows: the council's own lines that contain
// marker, Ollama's gin lines, ...) that contains none of ignore and is
// dated no later than now+5s. Lines without a date of their own
// (llama-server's, uvicorn's) cannot be aged and are skipped, as is
// anything not in a known format.
func lastCompleted(tail []byte, marker string, ignore []string, now time.Time) (time.Time, bool) {
	for _, r := range accesslog.Requests(tail, marker, ignore) {
		if !r.Dated() || r.At.After(now.Add(futureSkew)) {
			continue
		}
		return r.At, true
	}
	return time.Time{}, false
}

// busyInLog reports whether tail shows a completed request within window
// of now, and how old the newest one is (0 if it is dated slightly in the
// future).
func busyInLog(tail []byte, marker string, ignore []string, now time.Time, window time.Duration) (age time.Duration, busy bool) {
	ts, ok := lastCompleted(tail, marker, ignore, now)
	if !ok {
		return 0, false
	}
	age = max(now.Sub(ts), 0)
	return age, age <= window
}

// fatalMatch is a fatal signature found in the primary's log.
type fatalMatch struct {
	Signature string // the configured signature that matched
	Line      string // the log line, trimmed and cut to 200 bytes
}

// findFatal returns the newest line of tail that contains one of sigs
// (case-insensitively), unless a request line (one containing marker, or a
// request in another server's format: accesslog.ParseRequest) follows it: a binary that served after printing the signature
// is not one that can never serve, and the old line must not trigger a
// promotion forever after the operator restored the primary.
func findFatal(tail []byte, sigs []string, marker string) (fatalMatch, bool) {
	type sig struct{ orig, low string }
	var want []sig
	for _, s := range sigs {
		if s = strings.TrimSpace(s); s != "" {
			want = append(want, sig{s, strings.ToLower(s)})
		}
	}
	if len(want) == 0 {
		return fatalMatch{}, false
	}
	for rest := tail; len(rest) > 0; {
		var line []byte
		rest, line = accesslog.LastLine(rest)
		if _, served := accesslog.ParseRequest(line, marker); served || (marker != "" && bytes.Contains(line, []byte(marker))) {
			return fatalMatch{}, false
		}
		low := strings.ToLower(string(line))
		for _, s := range want {
			if strings.Contains(low, s.low) {
				return fatalMatch{Signature: s.orig, Line: text.Excerpt(string(line), text.MaxIdent)}, true
			}
		}
	}
	return fatalMatch{}, false
}

// classifyFatal returns the newest line of tail that matches a promote or
// a restart signature, and which kind it matched; ok is false when there
// is none, or when a completed request (marker) follows it (see
// findFatal). A restart signature newer than a promote signature wins.
func classifyFatal(tail []byte, promote, restart []string, marker string) (f fatalMatch, action fatalAction, ok bool) {
	all := append(append([]string(nil), promote...), restart...)
	f, ok = findFatal(tail, all, marker)
	if !ok {
		return fatalMatch{}, "", false
	}
	// findFatal tries signatures in order per line, promote first: the
	// matched text's place in all says which list it came from.
	for i, s := range all {
		if strings.EqualFold(strings.TrimSpace(s), f.Signature) {
			if i < len(promote) {
				return f, actionPromote, true
			}
			return f, actionRestart, true
		}
	}
	return f, actionRestart, true
}

// causeLines returns up to max lines of tail that contain one of sigs
// (case-insensitively), the newest ones, oldest first, each redacted
// (pkg/core/redact) and cut to maxCauseLine bytes: the "why it died" evidence
// of an alert. A log line may hold anything the server printed, a token
// included, so it is redacted before it goes anywhere.
func causeLines(tail []byte, sigs []string, max int) []string {
	var low []string
	for _, s := range sigs {
		if s = strings.TrimSpace(s); s != "" {
			low = append(low, strings.ToLower(s))
		}
	}
	if len(low) == 0 || max <= 0 {
		return nil
	}
	var out []string
	for rest := tail; len(rest) > 0 && len(out) < max; {
		var line []byte
		rest, line = accesslog.LastLine(rest)
		l := strings.ToLower(string(line))
		for _, s := range low {
			if strings.Contains(l, s) {
				out = append(out, text.Excerpt(string(line), maxCauseLine))
				break
			}
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
