// Package fifo is for tests of code that must never wait on a FIFO: an
// open(2) for reading with no writer blocks until one comes, and SIGTERM
// cannot end it, so a probe that opens one without O_NONBLOCK hangs its
// tick for ever. It imports nothing of the suite, so any layer's tests may
// use it.
package fifo

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bound is how long Refused waits: a liveness bound, not a timing check.
// A refusal takes microseconds; only an open that waits for a writer
// reaches it.
const Bound = 30 * time.Second

// Make creates a FIFO at path (mode 0600) and removes it when the test
// ends, so nothing opens it after.
func Make(t testing.TB, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatalf("mkfifo %s: %v", path, err)
	}
	t.Cleanup(func() { os.Remove(path) })
}

// Refused runs read, which opens something that is not a regular file,
// and fails the test unless it returns within Bound an error that says
// "not a regular file". It returns that error, for a closer look. what
// names the read in the failure.
func Refused(t testing.TB, what string, read func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- read() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v; want not a regular file", what, err)
		}
		return err
	case <-time.After(Bound):
		t.Fatalf("%s is still waiting after %s: it blocked on the FIFO", what, Bound)
		return nil
	}
}
