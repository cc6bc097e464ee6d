// The real-ollama command builds Ollama from its Go module into the
// test kit's cache (see package realollama) and prints the binary's path.
// The real-server tests (make test-real) do the same on their own; this
// command lets CI or an operator build ahead, and see the build's output.
//
// Usage:
//
//	real-ollama [--version 0.17.4]
//
// The cache is $COUNCIL_OLLAMA_CACHE, else
// ${XDG_CACHE_HOME:-~/.cache}/council-probes/ollama; a cached build is
// reused at once.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/testkit/realollama"
)

func main() {
	app := &cli.App{
		Name:  "real-ollama",
		Usage: "build (or find in the cache) the Ollama the real-server tests run, and print its path",
		Flags: flags(),
		Action: func(c *cli.Context) error {
			bin, err := realollama.Binary(c.Context, settingsFrom(c).Version, os.Stderr)
			if err != nil {
				return err
			}
			fmt.Println(bin)
			return nil
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "real-ollama:", err)
		os.Exit(1)
	}
}
