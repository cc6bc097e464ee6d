// The council-sim command is a SIMULATED OpenAI-compatible council server
// with fault injection, for the probes' end-to-end tests and `make demo`.
// It is not an LLM server; every response carries "x-council-simulator: true".
//
// Usage:
//
//	council-sim [--listen 127.0.0.1:1337] [--mtls-listen 127.0.0.1:1338 --ca-cert ca.crt --server-cert server.crt --server-key server.key]
//	            [--token-file FILE] [--control 127.0.0.1:1339] [--fault hang] [--slow-delay 5s] [--diverge-after 3]
//	            [--model ID]... [--answer 'substring=answer']... [--access-log FILE] [--pid-file FILE]
//	council-sim pki --home DIR [--clients guardian,canary,...] [--force]
//
// It prints the bound URLs as KEY=value lines on stdout and stops cleanly
// on SIGTERM or SIGINT. See package councilsim for the API and the faults.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := councilsim.Run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
