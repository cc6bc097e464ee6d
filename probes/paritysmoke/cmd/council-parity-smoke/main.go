// The council-parity-smoke command is the council's nightly quality probe:
// it sends a set of golden prompts at temperature 0 with a fixed seed,
// checks each answer, and optionally compares every answer token by token
// with a reference backend. launchd runs it at 03:00.
//
// Usage:
//
//	council-parity-smoke [flags]
//	council-parity-smoke --reference-url http://127.0.0.1:1339 --reference-token-file ~/.sanctum/secrets/reference.token
//	council-parity-smoke --url http://known-good:1337 --record golden.json
//	council-parity-smoke --prompts golden.json --table always
//
// More than --max-failures (default 1) failing prompts alert at error on the
// parity channel and exit 2. Run with --help for every flag, its environment
// variable and default; the prompt file schema is in the paritysmoke package
// documentation.
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/paritysmoke"
)

func main() { os.Exit(paritysmoke.New().Run(os.Args)) }
