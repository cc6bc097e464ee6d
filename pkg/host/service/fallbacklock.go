package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// FallbackLock is the content of the fallback lock file: its existence
// means the fallback serves and the primary must not be promoted over, or
// fallen back from, until an operator runs RestorePrimary.
//
// Step records how far the promotion that wrote the lock got: it is
// rewritten (atomically) after each step of the service manager, so a promotion cut
// short by a signal, a crash or a reboot is finished by the next tick
// (ResumePromotion) instead of leaving the primary booted out and nothing
// started. A lock without a step was written before steps were recorded
// and counts as a finished promotion.
type FallbackLock struct {
	Who      string    `json:"who"`
	When     time.Time `json:"when"`
	Why      string    `json:"why"`
	PID      int       `json:"pid"`
	Primary  string    `json:"primary,omitempty"`
	Fallback string    `json:"fallback,omitempty"`
	Step     string    `json:"step,omitempty"`
	// ResumedBy names the probe that finished an interrupted promotion.
	ResumedBy string `json:"resumed_by,omitempty"`
}

// The first and last steps of every promotion, as recorded in
// FallbackLock.Step; each manager names the steps between (each names the
// last step that completed).
const (
	StepLocked = "locked" // the lock is written; the manager not touched yet
	// StepDone: the promotion was verified (or verify failed on its own,
	// and the probes' watch of the fallback takes over). A verify cut
	// short by a signal leaves the last step before it, so the next tick
	// verifies and alerts.
	StepDone = "done"
)

// Done reports whether the promotion that wrote the lock finished: all its
// steps and the verify. A lock with no step (written by an older
// version) is done, as it always was.
func (l *FallbackLock) Done() bool {
	return l.Step == "" || l.Step == StepDone
}

// maxFallbackLock bounds the read of the fallback lock: a few hundred
// bytes of JSON.
const maxFallbackLock = 64 << 10

// MaxPlist bounds the read of a launchd plist (the fallback's, read by
// drift and by the promotion recipe): a real one is a few KiB.
const MaxPlist = 1 << 20

// ReadFallbackLock reads the fallback lock at path. A missing lock returns
// nil and an error for which errors.Is(err, fs.ErrNotExist) holds. A lock
// that exists but does not parse returns a non-nil, empty FallbackLock and
// the parse error: it still counts as present.
func ReadFallbackLock(path string) (*FallbackLock, error) {
	b, err := atomicfile.ReadFile(path, maxFallbackLock)
	if err != nil {
		return nil, fmt.Errorf("read fallback lock: %w", err)
	}
	var l FallbackLock
	if err := json.Unmarshal(b, &l); err != nil {
		return &FallbackLock{}, fmt.Errorf("read fallback lock %s: %w", path, err)
	}
	return &l, nil
}

// WriteFallbackLock writes l to path atomically (a reader sees the old
// lock or the new one, never half of one).
func WriteFallbackLock(path string, l *FallbackLock) error {
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write fallback lock: %w", err)
	}
	return nil
}

// FallbackLockExists reports whether the fallback lock file exists,
// whatever its content.
func FallbackLockExists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("fallback lock: %w", err)
	}
}
