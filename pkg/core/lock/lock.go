// Package lock provides the advisory file locks the probes use: a
// non-blocking per-probe tick lock (a second tick of the same probe exits
// fast instead of piling up) and a blocking, context-bounded lock for
// remediation that touches launchd, shared by every probe so two probes can
// never both promote the fallback.
//
// Locks are flock(2) locks on a file that is never deleted: the kernel
// releases them when the process dies, so a crashed tick never leaves a
// stale lock behind.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// ErrHeld is returned by TryLock when another process holds the lock.
var ErrHeld = errors.New("lock held by another process")

// Lock is a held flock on a file. Release it when done; process exit also
// releases it.
type Lock struct {
	f    *os.File
	path string
}

// Path returns the lock file's path.
func (l *Lock) Path() string { return l.path }

// TryLock takes an exclusive lock on path without waiting. It creates the
// file (and its directory) if needed. If another process holds the lock it
// returns an error wrapping ErrHeld.
func TryLock(path string) (*Lock, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, ErrHeld)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Acquire takes an exclusive lock on path, waiting until it is free or ctx
// is done. Polling (rather than a blocking flock) keeps the wait cancellable.
func Acquire(ctx context.Context, path string) (*Lock, error) {
	const poll = 50 * time.Millisecond
	for {
		l, err := TryLock(path)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, ErrHeld) {
			return nil, err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("lock %s: waiting: %w (%w)", path, ErrHeld, ctx.Err())
		case <-t.C:
		}
	}
}

// Release drops the lock. The file stays, so the next holder locks the same
// inode.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

func open(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Never through a symlink (O_CREAT would create its target wherever it
	// points) and never blocking on a FIFO.
	f, err := atomicfile.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
