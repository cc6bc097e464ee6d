package accesslog

import (
	"bytes"
	"fmt"
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
	const op = "read log since mark"
	f, fi, err := OpenLog(path, op)
	if IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if limit <= 0 {
		limit = DefaultTailBytes
	}
	from := m.size
	if m.info == nil || !os.SameFile(m.info, fi) || fi.Size() < m.size {
		from = 0
	}
	buf, err := readLines(f, path, op, max(from, fi.Size()-limit), fi.Size())
	if err != nil {
		return nil, err
	}
	// A line still being written (no newline yet) is not whole.
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i+1]
	} else {
		buf = nil
	}
	return buf, nil
}
