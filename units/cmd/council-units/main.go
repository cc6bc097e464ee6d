// The council-units command renders, validates, installs and removes the
// probes' systemd user units, says whether they will run (doctor) and
// renders the polkit rule for system units; package units's doc and --help
// describe it.
package main

import (
	"os"

	"github.com/sanctum/council-probes/units"
)

func main() {
	os.Exit(units.Run(os.Args, os.Stdout, os.Stderr))
}
