// The council-integrity command checks, every five minutes under launchd,
// that the next respawn of the primary council server will work: the
// binary exists and is executable, its signature verifies (codesign on
// macOS, an ed25519 detached signature elsewhere), mlx.metallib sits next to
// it, the running process executes the binary on disk, and the model
// weights match their signed manifest. A missing or badly signed binary
// promotes the fallback server; the other failures alert.
//
// Usage:
//
//	council-integrity [flags]                      run one tick
//	council-integrity keygen --out DIR             make an ed25519 key pair
//	council-integrity sign --key KEY FILE...       write FILE.sig
//	council-integrity verify --pubkey PUB FILE [--sig SIG]
//
// Every flag has an environment variable and a default; run
// `council-integrity --help` for the list. A tick's exit codes follow the
// Nagios convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. verify answers
// as signature tools do: 0 valid, 1 invalid, 2 cannot check.
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/integrity"
)

func main() { os.Exit(integrity.New().Run(os.Args)) }
