package openai

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// events reads every event of s until an error and returns the events
// (a comment as "#") and the error.
func events(s string, max int) ([]string, error) {
	rd := newSSEReader(strings.NewReader(s), max)
	var out []string
	for {
		ev, err := rd.Next()
		if err != nil {
			return out, err
		}
		if ev.Comment {
			out = append(out, "#")
			continue
		}
		out = append(out, string(ev.Data))
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		want    []string
		wantErr error
	}{
		{"openai stream", "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n", 0, []string{`{"a":1}`, `{"b":2}`, "[DONE]"}, io.EOF},
		{"crlf line endings", "data: x\r\n\r\ndata: y\r\n\r\n", 0, []string{"x", "y"}, io.EOF},
		{"no space after colon", "data:x\n\n", 0, []string{"x"}, io.EOF},
		{"only one space is stripped", "data:  x\n\n", 0, []string{" x"}, io.EOF},
		{"multi-line data joined with newline", "data: a\ndata: b\n\n", 0, []string{"a\nb"}, io.EOF},
		{"comments reported, other fields ignored", ": keep-alive\nevent: message\nid: 7\nretry: 10\ndata: x\n\n", 0, []string{"#", "x"}, io.EOF},
		{"bare colon keep-alive between events", "data: x\n\n:\n\ndata: y\n\n", 0, []string{"x", "#", "y"}, io.EOF},
		{"bare CR line endings", "data: x\r\rdata: y\r\r", 0, []string{"x", "y"}, io.EOF},
		{"bare CR, multi-line data", "data: a\rdata: b\r\r", 0, []string{"a\nb"}, io.EOF},
		{"mixed CR, LF and CRLF", "data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\n\r", 0, []string{"a\nb\nc", "d"}, io.EOF},
		{"CR then LF is one line ending, not two", "data: a\r\ndata: b\r\n\r\n", 0, []string{"a\nb"}, io.EOF},
		{"last CR-ended event without blank line", "data: [DONE]\r", 0, []string{"[DONE]"}, io.EOF},
		{"blank lines without data dispatch nothing", "\n\n\ndata: x\n\n\n\n", 0, []string{"x"}, io.EOF},
		{"bare data field is an empty line of data", "data\n\n", 0, []string{""}, io.EOF},
		{"last event without blank line still dispatched", "data: [DONE]\n", 0, []string{"[DONE]"}, io.EOF},
		{"line cut off by the end of the stream", "data: {\"a\":1}\n\ndata: {\"b\"", 0, []string{`{"a":1}`}, io.ErrUnexpectedEOF},
		{"empty stream", "", 0, nil, io.EOF},
		{"line over the limit", "data: " + strings.Repeat("x", 100) + "\n\n", 64, nil, ErrEventTooLong},
		{"data over the limit across lines", strings.Repeat("data: "+strings.Repeat("x", 30)+"\n", 3) + "\n", 64, nil, ErrEventTooLong},
		{"event exactly at the limit", "data: " + strings.Repeat("x", 64) + "\n\n", 64, []string{strings.Repeat("x", 64)}, io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := events(tc.in, tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("events = %q, want %q", got, tc.want)
			}
		})
	}
}

// endless is a reader that never ends and never sends a newline, as a broken
// server streaming one infinite line would.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestSSEReaderEndlessLineIsBounded(t *testing.T) {
	for _, max := range []int{16, 4096, DefaultMaxEventBytes} {
		src := &endless{}
		rd := newSSEReader(io.MultiReader(strings.NewReader("data: "), src), max)
		_, err := rd.Next()
		if !errors.Is(err, ErrEventTooLong) {
			t.Fatalf("max %d: error = %v, want ErrEventTooLong", max, err)
		}
		// Memory held is what was read: at most the bound plus one buffer
		// (64 KiB, or the bound when that is smaller).
		if limit := int64(max + min(64<<10, max) + 16); src.n > limit {
			t.Fatalf("max %d: read %d bytes of an endless line, want at most %d", max, src.n, limit)
		}
		if cap(rd.line) > max+len("data: ") {
			t.Fatalf("max %d: line buffer grew to %d bytes", max, cap(rd.line))
		}
	}
}

func FuzzSSE(f *testing.F) {
	for _, s := range []string{
		"data: {\"choices\":[{\"delta\":{\"content\":\"4\"}}]}\n\ndata: [DONE]\n\n",
		"data: a\r\ndata: b\r\n\r\n",
		": ping\n\nevent: x\ndata\n\n",
		"data: " + strings.Repeat("y", 300),
		"\r\r\n\n\x00data:\xff\n\n",
		"data: x\r\rdata: y\r:ping\r\r",
	} {
		f.Add([]byte(s))
	}
	const max = 256
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := newSSEReader(strings.NewReader(string(in)), max)
		for i := 0; ; i++ {
			ev, err := rd.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrEventTooLong) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(ev.Data) > max {
				t.Fatalf("event of %d bytes exceeds the %d-byte bound", len(ev.Data), max)
			}
			if i > len(in) {
				t.Fatalf("more events (%d) than input bytes (%d): no progress", i, len(in))
			}
		}
		if cap(rd.line) > max+len("data: ") || cap(rd.data) > max {
			t.Fatalf("buffers grew past the bound: line %d, data %d", cap(rd.line), cap(rd.data))
		}
	})
}
