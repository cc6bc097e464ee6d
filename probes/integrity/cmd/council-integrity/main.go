// The council-integrity command is the integrity probe (will the next
// respawn work?); package integrity's doc and --help describe it.
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/integrity"
)

func main() { os.Exit(integrity.New().Run(os.Args)) }
