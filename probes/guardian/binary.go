package guardian

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// CheckBinary returns why the primary binary at path cannot be started by
// launchd: missing, not a regular file, or without any execute bit. A
// binary that cannot start can never serve, so the guardian promotes the
// fallback instead of restarting into the same failure.
func CheckBinary(path string) error {
	if path == "" {
		return errors.New("primary binary: no path configured (--primary-binary)")
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("primary binary %s is missing", path)
	case err != nil:
		return fmt.Errorf("primary binary: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("primary binary %s is not a regular file (%s)", path, fi.Mode().Type())
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("primary binary %s is not executable (mode %04o)", path, fi.Mode().Perm())
	}
	return nil
}
