// The council-plists command renders, validates, installs and removes the
// probes' LaunchAgents; package plists's doc and --help describe it.
package main

import (
	"os"

	"github.com/sanctum/council-probes/plists"
)

func main() {
	os.Exit(plists.Run(os.Args, os.Stdout, os.Stderr))
}
