package launchctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// FallbackLock is the content of the fallback lock file: its existence
// means the fallback serves and the primary must not be promoted over, or
// fallen back from, until an operator runs RestorePrimary.
type FallbackLock struct {
	Who      string    `json:"who"`
	When     time.Time `json:"when"`
	Why      string    `json:"why"`
	PID      int       `json:"pid"`
	Primary  string    `json:"primary,omitempty"`
	Fallback string    `json:"fallback,omitempty"`
}

// ReadFallbackLock reads the fallback lock at path. A missing lock returns
// nil and an error for which errors.Is(err, fs.ErrNotExist) holds. A lock
// that exists but does not parse returns a non-nil, empty FallbackLock and
// the parse error: it still counts as present.
func ReadFallbackLock(path string) (*FallbackLock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fallback lock: %w", err)
	}
	var l FallbackLock
	if err := json.Unmarshal(b, &l); err != nil {
		return &FallbackLock{}, fmt.Errorf("read fallback lock %s: %w", path, err)
	}
	return &l, nil
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
