package openai

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxEventBytes bounds one server-sent event (its line and its joined
// data). An OpenAI chunk is a few hundred bytes; a megabyte leaves room for
// logprobs and still caps what a broken server can make a probe hold.
const DefaultMaxEventBytes = 1 << 20

// ErrEventTooLong is returned when a line or an event's data exceeds the
// reader's bound: an endless line never grows memory past it.
var ErrEventTooLong = errors.New("server-sent event exceeds the size limit")

// sseEvent is what the reader found: the data of an event, or a comment
// line (a keep-alive such as ": ping"), which carries no data.
type sseEvent struct {
	Data    []byte
	Comment bool
}

// sseReader reads server-sent events (the text/event-stream format) with
// bounded memory. It follows the format closely enough for OpenAI-style
// streams:
//   - lines end in LF, CRLF or a bare CR (all three are valid SSE); a CR is
//     acted on at once, so a CR-only stream is not held up waiting to see
//     whether an LF follows;
//   - "data:" lines (one optional space after the colon) are joined with
//     "\n" and dispatched at a blank line;
//   - a comment line (":" first) is reported as a comment event of its own,
//     so a caller can count keep-alives; the event, id and retry fields are
//     ignored;
//   - a final event whose line ended but whose blank line never came (the
//     connection closed) is still dispatched, so a server that closes right
//     after "data: [DONE]\n" is not reported as a truncated stream.
type sseReader struct {
	r      *bufio.Reader
	max    int
	line   []byte
	data   []byte
	has    bool // data holds at least one data line
	skipLF bool // the last line ended in CR: an LF right after it is part of that ending
}

// newSSEReader reads events of at most max bytes (DefaultMaxEventBytes if
// max <= 0) from r.
func newSSEReader(r io.Reader, max int) *sseReader {
	if max <= 0 {
		max = DefaultMaxEventBytes
	}
	// One read takes what has arrived, up to 64 KiB (never more than an
	// event may hold), so events that arrived together are read together
	// (see Timings.TokenReads).
	size := min(64<<10, max)
	if max < 4096 {
		size = 16 // bufio's minimum; keeps tiny limits honest
	}
	return &sseReader{r: bufio.NewReaderSize(r, size), max: max}
}

// Next returns the next event. It returns io.EOF at a clean end of the
// stream, io.ErrUnexpectedEOF for a line cut off by the end, ErrEventTooLong
// (wrapped) when an event is over the bound, or the underlying read error.
// The returned data is valid until the next call.
func (s *sseReader) Next() (sseEvent, error) {
	for {
		line, complete, err := s.readLine()
		if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
			if errors.Is(err, io.EOF) && s.has {
				// The last line ended and the connection closed: dispatch.
				return s.dispatch(), nil
			}
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if s.has {
				return s.dispatch(), nil
			}
			if !complete {
				return sseEvent{}, io.EOF
			}
			continue
		}
		if !complete {
			// A line cut off by the end of the stream is not an event.
			return sseEvent{}, io.ErrUnexpectedEOF
		}
		if line[0] == ':' {
			return sseEvent{Comment: true}, nil
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if !bytes.Equal(field, []byte("data")) {
			continue // a field no caller uses
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		sep := 0
		if s.has {
			sep = 1
		}
		if len(s.data)+sep+len(value) > s.max {
			return sseEvent{}, fmt.Errorf("%w (%d bytes)", ErrEventTooLong, s.max)
		}
		if s.has {
			s.data = appendBounded(s.data, []byte("\n"), s.max)
		}
		s.data = appendBounded(s.data, value, s.max)
		s.has = true
	}
}

// dispatch hands out the event gathered so far and starts the next.
func (s *sseReader) dispatch() sseEvent {
	ev := sseEvent{Data: s.data}
	s.data, s.has = s.data[:0], false
	return ev
}

// readLine reads one line without its ending, refusing to hold more than
// max bytes of it. complete says the line had an ending; at the end of the
// stream it returns what it has with io.EOF.
func (s *sseReader) readLine() (line []byte, complete bool, err error) {
	s.line = s.line[:0]
	lineMax := s.max + len("data: ")
	if s.skipLF {
		s.skipLF = false
		if b, err := s.r.Peek(1); err == nil && b[0] == '\n' {
			s.r.Discard(1)
		}
	}
	for {
		n := s.r.Buffered()
		if n == 0 {
			if _, err := s.r.Peek(1); err != nil {
				return s.line, false, err
			}
			n = s.r.Buffered()
		}
		buf, _ := s.r.Peek(n) // n bytes are buffered: cannot fail
		i := lineEnd(buf)
		take := n
		if i >= 0 {
			take = i
		}
		if len(s.line)+take > lineMax {
			return nil, false, fmt.Errorf("%w (%d bytes)", ErrEventTooLong, s.max)
		}
		s.line = appendBounded(s.line, buf[:take], lineMax)
		if i < 0 {
			s.r.Discard(n)
			continue
		}
		s.skipLF = buf[i] == '\r'
		s.r.Discard(i + 1)
		return s.line, true, nil
	}
}

// lineEnd is the index of the first CR or LF in b, or -1. (Two IndexByte
// scans beat one IndexAny by far on a long line.)
func lineEnd(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	if lf < 0 {
		lf = len(b)
	}
	if cr := bytes.IndexByte(b[:lf], '\r'); cr >= 0 {
		return cr
	}
	if lf == len(b) {
		return -1
	}
	return lf
}

// appendBounded appends b to buf, growing buf as append would but never to a
// capacity over limit (the caller has checked that the result fits), so the
// memory held is bounded exactly, not by append's doubling.
func appendBounded(buf, b []byte, limit int) []byte {
	if need := len(buf) + len(b); need > cap(buf) {
		c := max(2*cap(buf), need, 64)
		nb := make([]byte, len(buf), min(c, max(limit, need)))
		copy(nb, buf)
		buf = nb
	}
	return append(buf, b...)
}
