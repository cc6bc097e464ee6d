//go:build !darwin

package primarycheck

// PlatformVerifier off macOS is an Ed25519 detached signature. Without a
// public key there is nothing to verify against: the check is skipped, and
// the returned reason is logged so the gap is visible, not a silent pass.
func PlatformVerifier(s SignatureSettings) (Verifier, string) {
	if s.PubKey == "" {
		return nil, "no --signing-pubkey configured; sign the binary with `council-integrity sign` and set it to enable this check"
	}
	return &Ed25519{PubKey: s.PubKey, SigPath: s.SigPath}, ""
}
