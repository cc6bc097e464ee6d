package integrity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/host/signing"
)

// Default key file names written by keygen.
const (
	defaultKeyName = "council-integrity"
	keySuffix      = ".key"
	pubSuffix      = ".pub"
)

// commands are the operator's tools for the Ed25519 signatures the checks
// consume, so setting up signing needs no other program.
func commands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "keygen",
			Usage:     "make an ed25519 key pair: <out>/<name>.key (mode 0600) and <out>/<name>.pub; never overwrites",
			ArgsUsage: " ",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Usage: "directory for the key pair", Required: true},
				&cli.StringFlag{Name: "name", Value: defaultKeyName, Usage: "base name of the key files"},
			},
			Action: keygen,
		},
		{
			Name:      "sign",
			Usage:     "write FILE.sig (64-byte ed25519ph signature) for each FILE",
			ArgsUsage: "FILE...",
			Flags:     []cli.Flag{&cli.StringFlag{Name: "key", Usage: "private key file (mode 0600)", Required: true}},
			Action:    sign,
		},
		{
			Name:  "verify",
			Usage: "check FILE against its detached signature (FILE.sig unless --sig)",
			Description: "Exits as signature tools do: 0 the signature is valid, 1 it is invalid (the content changed, it was\n" +
				"signed with another key, or the signature file is not a 64-byte signature), 2 it cannot be checked\n" +
				"(no or unreadable key, file or signature, bad usage).",
			ArgsUsage: "FILE",
			Flags: []cli.Flag{
				// Not Required: the library would report a missing flag with
				// its own exit code, and a script must get 2 (cannot check).
				&cli.StringFlag{Name: "pubkey", Usage: "public key file (required)"},
				&cli.StringFlag{Name: "sig", Usage: "signature file (default FILE.sig)"},
			},
			OnUsageError: func(_ *cli.Context, err error, _ bool) error {
				return cli.Exit(fmt.Sprintf("verify: %v", err), verifyCannotCheck)
			},
			Action: verify,
		},
	}
}

func keygen(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("keygen: unexpected argument %q", c.Args().First())
	}
	ks := keySettingsFrom(c)
	base := filepath.Join(ks.Out, ks.Name)
	pub, err := signing.GenerateKey(base+keySuffix, base+pubSuffix)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "private key %s (keep it off the council host)\npublic key  %s\nfingerprint %s\n",
		base+keySuffix, base+pubSuffix, signing.Fingerprint(pub))
	return nil
}

func sign(c *cli.Context) error {
	if c.NArg() == 0 {
		return errors.New("sign: no FILE given")
	}
	ks := keySettingsFrom(c)
	pub, err := publicOf(ks.Key)
	if err != nil {
		return err
	}
	for _, f := range c.Args().Slice() {
		if _, err := signing.SignFile(ks.Key, f); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "signed %s -> %s (key %s)\n", f, signing.SigPath(f), pub)
	}
	return nil
}

// publicOf names the key a private key file signs with, for the operator.
func publicOf(keyPath string) (string, error) {
	priv, err := signing.LoadPrivateKey(keyPath)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return signing.Fingerprint(priv.Public().(ed25519.PublicKey)), nil
}

// Exit codes of verify, as signature tools answer (gpgv, openssl dgst
// -verify): a script tells "tampered" from "could not look".
const (
	verifyValid       = 0
	verifyInvalid     = 1
	verifyCannotCheck = 2
)

func verify(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("verify: want exactly one FILE", verifyCannotCheck)
	}
	ks := keySettingsFrom(c)
	if ks.PubKey == "" {
		return cli.Exit("verify: --pubkey is required", verifyCannotCheck)
	}
	file := c.Args().First()
	pub, err := signing.LoadPublicKey(ks.PubKey)
	if err != nil {
		return cli.Exit(err.Error(), verifyCannotCheck)
	}
	if err := signing.VerifyFile(pub, file, ks.Sig); err != nil {
		return cli.Exit(err.Error(), verifyExit(err))
	}
	sig := ks.Sig
	if sig == "" {
		sig = signing.SigPath(file)
	}
	fmt.Fprintf(c.App.Writer, "%s: signature %s OK (key %s)\n", file, sig, signing.Fingerprint(pub))
	return nil
}

// verifyExit maps a verification error to verify's exit code: a signature
// that was read and does not match (or is not a signature at all) is
// invalid; anything that stopped the check before that cannot check.
func verifyExit(err error) int {
	if errors.Is(err, signing.ErrBadSignature) || errors.Is(err, signing.ErrSignatureSize) {
		return verifyInvalid
	}
	return verifyCannotCheck
}
