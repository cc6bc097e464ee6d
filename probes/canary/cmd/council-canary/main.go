// The council-canary command is the canary probe (does the council answer
// "2+2" correctly, in time?); package canary's doc and --help describe it.
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/canary"
)

func main() { os.Exit(canary.New().Run(os.Args)) }
