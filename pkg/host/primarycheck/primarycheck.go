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

import "github.com/urfave/cli/v2"

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

// Flags are the checks' flags: --metallib-name, --signing-pubkey,
// --codesign and --codesign-requirement, each with its environment
// variable and default. SettingsFrom reads them back.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "metallib-name", EnvVars: []string{"COUNCIL_METALLIB_NAME"}, Value: DefaultMetallib,
			Usage: "Metal library that must sit next to the primary binary, non-empty"},
		&cli.StringFlag{Name: "signing-pubkey", EnvVars: []string{"COUNCIL_SIGNING_PUBKEY"},
			Usage: "ed25519 public key that signs <binary>.sig (off macOS; empty skips the signature check, with an event saying so)"},
		&cli.StringFlag{Name: "codesign", EnvVars: []string{"COUNCIL_CODESIGN"}, Value: "codesign", Usage: "codesign binary (macOS)"},
		&cli.StringFlag{Name: "codesign-requirement", EnvVars: []string{"COUNCIL_CODESIGN_REQUIREMENT"},
			Usage: "pin the signer (macOS): a designated requirement, or a bare 10-character Team ID; empty accepts any valid signature, even ad-hoc"},
	}
}

// SettingsFrom reads the Flags of c (or of a parent command) for the
// primary binary at binary.
func SettingsFrom(c *cli.Context, binary string) Settings {
	return Settings{
		Binary:   binary,
		Metallib: c.String("metallib-name"),
		Signature: SignatureSettings{
			PubKey: c.String("signing-pubkey"), Codesign: c.String("codesign"), Requirement: c.String("codesign-requirement"),
		},
	}
}
