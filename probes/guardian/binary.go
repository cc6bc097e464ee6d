package guardian

import (
	"errors"

	"github.com/sanctum/council-probes/pkg/host/primarycheck"
)

// checkBinary returns why the primary binary at path cannot be started by
// launchd, by the same rules as council-integrity's binary_missing check
// (missing, not a regular file, empty, or not executable by this user). A
// binary that cannot start can never serve, so the guardian promotes the
// fallback instead of restarting into the same failure.
func checkBinary(path string) error {
	if path == "" {
		return errors.New("primary binary: no path configured (--primary-binary)")
	}
	_, err := primarycheck.CheckBinary(path, primarycheck.CurrentIdentity())
	return err
}
