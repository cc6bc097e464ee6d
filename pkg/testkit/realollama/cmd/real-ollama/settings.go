package main

import (
	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/testkit/realollama"
)

// flags are real-ollama's flags.
func flags() []cli.Flag {
	return []cli.Flag{&cli.StringFlag{Name: "version", Value: realollama.Version, Usage: "Ollama release to build"}}
}

// settings are real-ollama's flags, bound.
type settings struct {
	// Version is the Ollama release to build.
	Version string
}

// settingsFrom binds real-ollama's flags from c.
func settingsFrom(c *cli.Context) settings { return settings{Version: c.String("version")} }
