package accesslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Mark is where a log ended at a moment: what is written after it was
// written after that moment, whatever the lines' own dates say (and
// llama-server's and uvicorn's lines say none).
type Mark struct {
	size int64
	info os.FileInfo // nil: the log did not exist
}

// MarkEnd marks the current end of the log at path. A log that does not
// exist yet is marked as empty.
func MarkEnd(path string) (Mark, error) {
	fi, err := os.Stat(path)
	if IsNotExist(err) {
		return Mark{}, nil
	}
	if err != nil {
		return Mark{}, fmt.Errorf("mark log end: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Mark{}, fmt.Errorf("mark log end %s: not a regular file", path)
	}
	return Mark{size: fi.Size(), info: fi}, nil
}

// Appended returns the whole lines written to the log at path since m,
// at most limit bytes of them (the last ones: more than that is plenty of
// evidence). A log replaced or truncated since (rotation) is read from its
// start; a log that does not exist is empty.
func Appended(path string, m Mark, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read log since mark: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read log since mark: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read log since mark %s: not a regular file", path)
	}
	if limit <= 0 {
		limit = DefaultTailBytes
	}
	from := m.size
	if m.info == nil || !os.SameFile(m.info, fi) || fi.Size() < m.size {
		from = 0
	}
	start := max(from, fi.Size()-limit)
	buf := make([]byte, fi.Size()-start)
	n, err := f.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read log since mark %s: %w", path, err)
	}
	buf = buf[:n]
	if start > 0 {
		// Whole lines only: unless the byte before is a newline, the
		// first line began before the mark (or before the cut).
		prev := make([]byte, 1)
		if _, err := f.ReadAt(prev, start-1); err != nil || prev[0] != '\n' {
			if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				buf = buf[i+1:]
			} else {
				buf = nil
			}
		}
	}
	// A line still being written (no newline yet) is not whole.
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i+1]
	} else {
		buf = nil
	}
	return buf, nil
}
