package main

import "github.com/urfave/cli/v2"

// flags are forceflow-sim's flags.
func flags() []cli.Flag {
	return []cli.Flag{&cli.StringFlag{Name: "listen", Value: "127.0.0.1:0", Usage: "address to listen on"}}
}

// settings are forceflow-sim's flags, bound.
type settings struct {
	// Listen is the address to listen on.
	Listen string
}

// settingsFrom binds forceflow-sim's flags from c.
func settingsFrom(c *cli.Context) settings { return settings{Listen: c.String("listen")} }
