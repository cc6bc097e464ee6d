package eventlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// DefaultMaxBytes and DefaultKeep bound a probe's log to about 30 MB.
const (
	DefaultMaxBytes = 10 << 20
	DefaultKeep     = 2
)

// File is an append-only log file that rotates itself by size:
// path -> path.1 -> ... -> path.<Keep>; the oldest is removed. It is safe for
// concurrent use by goroutines and by other processes using File on the same
// path.
type File struct {
	path     string
	maxBytes int64
	keep     int

	mu      sync.Mutex
	f       *os.File
	lockf   *os.File
	lastErr error
}

// OpenFile opens (creating if needed, mode 0600, directory 0700) the log at
// path. maxBytes <= 0 disables rotation; keep < 1 is treated as 1.
func OpenFile(path string, maxBytes int64, keep int) (*File, error) {
	if keep < 1 {
		keep = 1
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	lockf, err := atomicfile.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	w := &File{path: path, maxBytes: maxBytes, keep: keep, lockf: lockf}
	if err := w.reopen(); err != nil {
		lockf.Close()
		return nil, err
	}
	return w, nil
}

func (w *File) reopen() error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	// Not through a symlink, and not a FIFO or a directory: a FIFO would
	// block the tick until something read it.
	f, err := atomicfile.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open log %s: %w", w.path, err)
	}
	w.f = f
	return nil
}

// Write appends p as one write(2). p is expected to be whole lines (slog
// hands over one record at a time).
func (w *File) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.write(p)
	if err != nil {
		w.lastErr = err
	}
	return n, err
}

func (w *File) write(p []byte) (int, error) {
	if w.f == nil {
		return 0, errors.New("write log: file is closed")
	}
	if err := unix.Flock(int(w.lockf.Fd()), unix.LOCK_EX); err != nil {
		return 0, fmt.Errorf("write log %s: lock: %w", w.path, err)
	}
	defer unix.Flock(int(w.lockf.Fd()), unix.LOCK_UN)

	// Another writer may have rotated the file under us: if the path no
	// longer names our inode, follow it.
	var onDisk, ours unix.Stat_t
	if err := unix.Stat(w.path, &onDisk); err != nil || unix.Fstat(int(w.f.Fd()), &ours) != nil ||
		onDisk.Ino != ours.Ino || onDisk.Dev != ours.Dev {
		if err := w.reopen(); err != nil {
			return 0, err
		}
		if err := unix.Fstat(int(w.f.Fd()), &ours); err != nil {
			return 0, fmt.Errorf("write log %s: %w", w.path, err)
		}
	}
	if w.maxBytes > 0 && ours.Size > 0 && ours.Size+int64(len(p)) > w.maxBytes {
		if err := w.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("write log %s: %w", w.path, err)
	}
	return n, nil
}

// rotate shifts path.N -> path.N+1 (dropping the oldest) and path -> path.1.
// Called with the flock held.
func (w *File) rotate() error {
	os.Remove(fmt.Sprintf("%s.%d", w.path, w.keep))
	for i := w.keep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", w.path, i), fmt.Sprintf("%s.%d", w.path, i+1))
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return fmt.Errorf("rotate log %s: %w", w.path, err)
	}
	return w.reopen()
}

// Err returns the last write error, if any: slog drops handler errors, so the
// probe asks here at the end of a tick (a full disk must not pass silently).
func (w *File) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Close closes the file.
func (w *File) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if w.f != nil {
		err = w.f.Close()
		w.f = nil
	}
	w.lockf.Close()
	return err
}
