// The forceflow-sim command is a stand-in for the Force Flow notification
// hub, for `make demo` and manual testing. It is not Force Flow. It prints
// each alert it receives, one line each.
//
// Usage:
//
//	forceflow-sim [--listen 127.0.0.1:0]
//
// It prints FORCE_FLOW_URL=http://127.0.0.1:<port>/notify once listening.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/testkit/forceflowsim"
)

func main() {
	app := &cli.App{
		Name:  "forceflow-sim",
		Usage: "a Force Flow stand-in for demos and tests (NOT the real notification hub)",
		Flags: flags(),
		Action: func(c *cli.Context) error {
			ln, err := net.Listen("tcp", settingsFrom(c).Listen)
			if err != nil {
				return err
			}
			s := forceflowsim.New()
			s.Log = os.Stdout
			fmt.Printf("FORCE_FLOW_URL=http://%s/notify\n", ln.Addr())
			srv := &http.Server{Handler: s}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			go func() { <-ctx.Done(); s.Release(); srv.Close() }()
			if err := srv.Serve(ln); err != http.ErrServerClosed {
				return err
			}
			return nil
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "forceflow-sim:", err)
		os.Exit(1)
	}
}
