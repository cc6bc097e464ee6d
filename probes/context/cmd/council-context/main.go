// The council-context command is the context probe (is the server's
// context window what we think it is?); package ctxwindow's doc and --help
// describe it.
package main

import (
	"os"

	ctxwindow "github.com/sanctum/council-probes/probes/context"
)

func main() { os.Exit(ctxwindow.New().Run(os.Args)) }
