// The council-parity-smoke command is the nightly quality probe (did
// answers silently regress?); package paritysmoke's doc and --help describe it.
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/paritysmoke"
)

func main() { os.Exit(paritysmoke.New().Run(os.Args)) }
