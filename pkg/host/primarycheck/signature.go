package primarycheck

import (
	"context"
	"errors"
	"fmt"

	"github.com/sanctum/council-probes/pkg/host/signing"
)

// Verifier checks the signature of the primary binary. There are two:
// Codesign on macOS (the same check Gatekeeper makes) and Ed25519 elsewhere,
// a detached signature next to the binary. PlatformVerifier picks the one
// for this OS; it returns a nil Verifier and the reason when there is
// nothing to verify against, and the check is then skipped, visibly.
type Verifier interface {
	// Verify returns nil when the binary at path carries a valid
	// signature. A *ConfigError means the check itself could not run
	// (no codesign, unreadable key): that is not evidence against the
	// binary and must not promote the fallback.
	Verify(ctx context.Context, path string) error
	// Describe names the method for events, e.g. "ed25519 key SHA256:...".
	Describe() string
}

// ConfigError is a verifier that cannot run as configured.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return "signature check misconfigured: " + e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }

// IsConfigError reports whether err says the check could not run.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

// Ed25519 verifies <binary>.sig, a 64-byte Ed25519ph signature over the
// binary's bytes (pkg/host/signing), streaming the binary so memory stays flat.
type Ed25519 struct {
	// PubKey is the public key file (--signing-pubkey).
	PubKey string
	// SigPath is the signature file; empty means <binary>.sig.
	SigPath string

	fingerprint string
}

// Verify loads the key on every call: a key rotated between two runs must
// take effect.
func (v *Ed25519) Verify(ctx context.Context, path string) error {
	pub, err := signing.LoadPublicKey(v.PubKey)
	if err != nil {
		return &ConfigError{Err: err}
	}
	v.fingerprint = signing.Fingerprint(pub)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := signing.VerifyFile(pub, path, v.SigPath); err != nil {
		return fmt.Errorf("ed25519: %w", err)
	}
	return nil
}

// Describe names the scheme and, once loaded, the key's fingerprint.
func (v *Ed25519) Describe() string {
	if v.fingerprint == "" {
		return "ed25519 " + v.PubKey
	}
	return "ed25519 key " + v.fingerprint
}
