// The council-drift command is the drift probe (is what runs what was
// committed?); package drift's doc and --help describe it.
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/drift"
)

func main() { os.Exit(drift.New().Run(os.Args)) }
