package councilsim

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Faults of a server that lies about itself or about its work, kept in
// their own file: what it says is data for a probe to judge, never an
// instruction.
const (
	// FaultRenameModel: every chat answer reports a model id and a
	// system_fingerprint never reported before ("<model>-r<N>", "fp_r<N>"),
	// as a server that renames its model on every tick. /v1/models lists
	// the usual ids, and chat accepts any model id.
	FaultRenameModel Fault = "rename_model"
	// FaultHostileIDs: every word the server says about itself carries
	// terminal escapes: a screen clear (CSI 2J), a window title (OSC 0), a
	// clipboard write (OSC 52), a bell, a carriage return and a
	// right-to-left override. It is the first id /v1/models lists, the
	// model and system_fingerprint of every chat answer, and the version
	// or build of the ollama, vllm and llama-server personalities. Chat
	// accepts any model id.
	FaultHostileIDs Fault = "hostile_ids"
	// FaultHugeIDs: the same words (but the fingerprint), each HugeIDBytes
	// long.
	FaultHugeIDs Fault = "huge_ids"
	// FaultUsageLies: the usage chunk (and a JSON answer's usage) reports
	// UsageLie completion tokens, whatever max_tokens allowed.
	FaultUsageLies Fault = "usage_lies"
	// FaultBuffered: a streamed answer is generated at the usual pace but
	// held back and sent in one write at the end, as a buffering proxy
	// would: every token arrives in one read.
	FaultBuffered Fault = "buffered"
	// FaultLoop: the answer loops over its first three tokens (a counting
	// answer reads "1 2 3 1 2 3 ..."), at full speed, as a model with a
	// broken quantisation or a corrupted cache does.
	FaultLoop Fault = "loop"
)

func init() {
	Faults = append(Faults, FaultRenameModel, FaultHostileIDs, FaultHugeIDs, FaultUsageLies, FaultBuffered, FaultLoop)
}

// HugeIDBytes is the length of every word FaultHugeIDs says: 1 MB, and a
// stream chunk carrying one still fits a client's 1 MiB event bound.
const HugeIDBytes = 1_000_000

// UsageLie is the completion token count FaultUsageLies reports.
const UsageLie = 2_000_000_000

// hostilePrefix and hostileSuffix wrap a word under FaultHostileIDs.
const (
	hostilePrefix = "\x1b[2J\x1b]0;council-sim owned this terminal\x07\x1b]52;c;b3duZWQ=\x07"
	hostileSuffix = "\r\u202Efdp.exe\x07"
)

// selfWord is word as the server says it under the current fault: with
// escapes, a megabyte long, or as it is.
func (s *Sim) selfWord(word string) string {
	switch s.Fault() {
	case FaultHostileIDs:
		return hostilePrefix + word + hostileSuffix
	case FaultHugeIDs:
		return word + "-" + strings.Repeat("x", max(HugeIDBytes-len(word)-1, 0))
	}
	return word
}

// liesAboutItself reports whether fault makes the server name itself
// differently from what it serves; chat then accepts any model id.
func liesAboutItself(fault Fault) bool {
	return fault == FaultRenameModel || fault == FaultHostileIDs || fault == FaultHugeIDs
}

// reportedIdentity is the model id and system_fingerprint a chat answer
// (request number n) reports under fault.
func (s *Sim) reportedIdentity(fault Fault, model, fingerprint string, n int64) (string, string) {
	switch fault {
	case FaultRenameModel:
		return fmt.Sprintf("%s-r%d", model, n), fmt.Sprintf("fp_r%d", n)
	case FaultHostileIDs:
		if fingerprint == "" {
			fingerprint = "fp_sim"
		}
		return s.selfWord(model), s.selfWord(fingerprint)
	case FaultHugeIDs:
		// The model id only: a chunk must still fit a client's 1 MiB event.
		return s.selfWord(model), fingerprint
	}
	return model, fingerprint
}

// loopTokens repeats the first three of tokens up to n tokens.
func loopTokens(tokens []string, n int) []string {
	if len(tokens) == 0 {
		return tokens
	}
	unit := tokens[:min(3, len(tokens))]
	out := make([]string, 0, n)
	for i := 0; i < max(n, len(tokens)); i++ {
		tok := unit[i%len(unit)]
		if i > 0 && !strings.HasPrefix(tok, " ") {
			tok = " " + tok
		}
		out = append(out, tok)
	}
	return out
}

// heldWriter holds a streamed answer back (FaultBuffered): writes go to a
// buffer, flushes do nothing, and release sends it all in one write.
type heldWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (h *heldWriter) Write(p []byte) (int, error) { return h.buf.Write(p) }

// Flush holds on: nothing leaves before release.
func (h *heldWriter) Flush() {}

// release writes what was held in one write and flushes it.
func (h *heldWriter) release() {
	h.ResponseWriter.Write(h.buf.Bytes())
	http.NewResponseController(h.ResponseWriter).Flush()
	h.buf.Reset()
}

// SetOtherClients makes each chat request append n lines of other
// clients' completed chat requests to the access log when it arrives,
// before its first token: a server busy with others during the sample,
// written by the server itself, so a test does not race the request.
func (s *Sim) SetOtherClients(n int) {
	s.mu.Lock()
	s.otherClients = max(n, 0)
	s.mu.Unlock()
}

// logOtherClients appends n other clients' completed requests.
func (s *Sim) logOtherClients(n int) {
	if n == 0 || s.cfg.AccessLog == nil {
		return
	}
	// Dated at the next millisecond, never before this request arrived:
	// the log's times are cut to the millisecond, and a line dated just
	// before the client sent its request would not be "during" it.
	at := s.now().UTC().Truncate(time.Millisecond).Add(time.Millisecond)
	var b strings.Builder
	for range n {
		fmt.Fprintf(&b, "%s INFO request completed method=POST path=%s status=200 duration_ms=5\n",
			at.Format(accessLogTimeLayout), "/v1/chat/completions")
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if _, err := s.cfg.AccessLog.Write([]byte(b.String())); err != nil {
		s.log.Warn("write access log", "err", err)
	}
}
