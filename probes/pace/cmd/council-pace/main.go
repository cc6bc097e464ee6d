// The council-pace command is the pace probe (is the council as fast as
// usual?); package pace's doc and --help describe it.
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/pace"
)

func main() { os.Exit(pace.New().Run(os.Args)) }
