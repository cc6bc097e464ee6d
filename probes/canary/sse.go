package canary

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxEventBytes bounds one server-sent event (its line and its joined
// data). An OpenAI chunk is a few hundred bytes; a megabyte leaves room for
// logprobs and still caps what a broken server can make the canary hold.
const DefaultMaxEventBytes = 1 << 20

// ErrEventTooLong is returned when a line or an event's data exceeds the
// reader's bound: an endless line never grows memory past it.
var ErrEventTooLong = errors.New("server-sent event exceeds the size limit")

// sseReader reads the data of server-sent events (the text/event-stream
// format) with bounded memory. It follows the format closely enough for
// OpenAI-style streams: "data:" lines (one optional space after the colon)
// are joined with "\n" and dispatched at a blank line; comments (":") and
// the event, id and retry fields are ignored; lines end in "\n" or "\r\n".
// A final event whose line ended but whose blank line never came (the
// connection closed) is still dispatched, so a server that closes right after
// "data: [DONE]\n" is not reported as a truncated stream.
type sseReader struct {
	r    *bufio.Reader
	max  int
	line []byte
	data []byte
	has  bool // data holds at least one data line
}

// newSSEReader reads events of at most max bytes (DefaultMaxEventBytes if
// max <= 0) from r.
func newSSEReader(r io.Reader, max int) *sseReader {
	if max <= 0 {
		max = DefaultMaxEventBytes
	}
	size := 4096
	if max < size {
		size = 16 // bufio's minimum; keeps tiny limits honest
	}
	return &sseReader{r: bufio.NewReaderSize(r, size), max: max}
}

// Next returns the data of the next event. It returns io.EOF at a clean end
// of the stream, ErrEventTooLong (wrapped) when an event is over the bound,
// or the underlying read error. The returned slice is valid until the next
// call.
func (s *sseReader) Next() ([]byte, error) {
	s.data, s.has = s.data[:0], false
	for {
		line, err := s.readLine()
		if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
			if errors.Is(err, io.EOF) && s.has {
				// The last line ended and the connection closed: dispatch.
				return s.data, nil
			}
			return nil, err
		}
		complete := err == nil
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			if s.has {
				return s.data, nil
			}
			if !complete {
				return nil, io.EOF
			}
			continue
		}
		if !complete {
			// A line cut off by the end of the stream is not an event.
			return nil, io.ErrUnexpectedEOF
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if len(field) == 0 || !bytes.Equal(field, []byte("data")) {
			continue // comment or a field the canary does not use
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		sep := 0
		if s.has {
			sep = 1
		}
		if len(s.data)+sep+len(value) > s.max {
			return nil, fmt.Errorf("%w (%d bytes)", ErrEventTooLong, s.max)
		}
		if s.has {
			s.data = appendBounded(s.data, []byte("\n"), s.max)
		}
		s.data = appendBounded(s.data, value, s.max)
		s.has = true
	}
}

// readLine reads one line including its "\n", refusing to hold more than
// max bytes of it. At the end of the stream it returns what it has with
// io.EOF.
func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	lineMax := s.max + len("data: \r\n")
	for {
		frag, err := s.r.ReadSlice('\n')
		if len(s.line)+len(frag) > lineMax {
			return nil, fmt.Errorf("%w (%d bytes)", ErrEventTooLong, s.max)
		}
		s.line = appendBounded(s.line, frag, lineMax)
		switch {
		case err == nil:
			return s.line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return s.line, err
		}
	}
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
