// Package primarycheck holds the checks that say whether the primary
// binary can serve at the next respawn: the binary is there and this user
// may execute it (CheckBinary), it carries a valid signature (a Verifier:
// codesign on macOS, an Ed25519 detached signature elsewhere) and its Metal
// shader library sits beside it, non-empty (CheckMetallib).
//
// council-integrity runs them every five minutes and promotes the fallback
// when the binary can never serve; council-guardian restore-primary runs
// them before switching back, so an operator cannot restore a primary that
// integrity would demote again, or one that would not start at all. Flags
// gives both the same flags, so one configuration serves both.
package primarycheck

// Settings configure the three checks.
type Settings struct {
	// Binary is the primary binary (--primary-binary).
	Binary string
	// Metallib is the file name of the Metal library next to Binary.
	Metallib  string
	Signature SignatureSettings
}

// SignatureSettings configure the signature check.
type SignatureSettings struct {
	PubKey      string // ed25519 public key (off macOS)
	SigPath     string // empty: <binary>.sig
	Codesign    string // codesign binary (macOS)
	Requirement string // codesign designated requirement or Team ID (macOS)
}
