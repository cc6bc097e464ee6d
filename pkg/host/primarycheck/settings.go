package primarycheck

import "github.com/urfave/cli/v2"

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
