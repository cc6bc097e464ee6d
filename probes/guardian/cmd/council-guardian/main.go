// The council-guardian command is the guardian probe (is the council up,
// and if not, heal it); package guardian's doc and --help describe it.
package main

import (
	"os"

	"github.com/sanctum/council-probes/probes/guardian"
)

func main() { os.Exit(guardian.New().Run(os.Args)) }
