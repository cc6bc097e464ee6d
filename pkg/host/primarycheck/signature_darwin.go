package primarycheck

// PlatformVerifier on macOS is codesign: the check Gatekeeper makes, which
// catches modified bytes, truncation, a revoked certificate and (with a
// requirement) an ad-hoc re-sign.
func PlatformVerifier(s SignatureSettings) (Verifier, string) {
	return &Codesign{Path: s.Codesign, Requirement: s.Requirement}, ""
}
