// The council-status command shows every probe's state at a glance;
// package status's doc and --help describe it.
package main

import (
	"os"

	"github.com/sanctum/council-probes/status"
)

func main() { os.Exit(status.New().Run(os.Args)) }
