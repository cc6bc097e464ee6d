package councilsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/testkit/testpki"
)

// DefaultClients are the probes' client names, for `council-sim pki`: every
// probe of the suite's registry has its own client certificate.
var DefaultClients = suite.Names(suite.Probes)

// Run runs the council-sim command line (args[0] is the program name) and
// returns the process exit code: 0 after a clean stop (ctx cancelled, e.g.
// by SIGTERM), 1 on an error. The serve command prints one line per bound
// URL on stdout, as KEY=value (COUNCIL_URL, COUNCIL_MTLS_URL,
// COUNCIL_SIM_CONTROL_URL), then logs JSON lines to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := NewApp(stdout, stderr)
	if err := app.RunContext(ctx, args); err != nil {
		fmt.Fprintf(stderr, "council-sim: %v\n", err)
		return 1
	}
	return 0
}

// NewApp builds the council-sim command line.
func NewApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "council-sim",
		Usage: "SIMULATED OpenAI-compatible council server with fault injection, for tests and demos (NOT a real LLM server)",
		Description: `council-sim pretends to be the council LLM server (sanctum-mlx) so the
probes can be tested end to end. It is not an LLM: it answers from a fixed
table ("4" to "2+2", --answer rules, a default answer) and marks every
response with the header "x-council-simulator: true".

Faults (--fault, or POST /fault on the --control listener):
  ` + FaultNames() + `

Control listener:
  POST /fault  {"fault":"hang","slow_delay":"2s","diverge_after":3}
  POST /fault  {"ttft":"400ms","token_delay":"30ms","system_fingerprint":"fp_2"}  (pace)
  POST /fault  {"context_window":2048}  (tokens a request gets)
  GET  /state
  POST /backend-fault  {"fault":"loading","loading_for":"30s"}  (the --personality's faults)
  POST /backend-load   {"running":2,"waiting":1}  (other clients' requests in /metrics)

Pace: --ttft delays the first token, --token-delay every later one; a
prompt containing "count from 1" is answered by counting, up to max_tokens.

On start it prints the bound URLs, one per line, as KEY=value:
  COUNCIL_URL=http://127.0.0.1:1337
  COUNCIL_MTLS_URL=https://127.0.0.1:1338     (with --mtls-listen)
  COUNCIL_SIM_CONTROL_URL=http://127.0.0.1:N  (with --control)`,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideVersion:               true,
		DisableSliceFlagSeparator: true, // an --answer may contain commas
		// Run reports errors and picks the exit code; never os.Exit here.
		ExitErrHandler: func(*cli.Context, error) {},
		Flags:          serveFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			return serve(c, stdout, stderr)
		},
		Commands: []*cli.Command{{
			Name:   "runner",
			Usage:  "the worker process --runner starts (reads busy/idle lines on stdin); not for use by hand",
			Hidden: true,
			Action: func(c *cli.Context) error {
				RunRunner(os.Stdin)
				return nil
			},
		}, {
			Name:   "pki",
			Usage:  "write a throwaway CA, server cert and client certs under --home/.sanctum/certs (for the demo)",
			Flags:  pkiFlags(),
			Action: func(c *cli.Context) error { return writePKI(c, stdout) },
		}},
	}
}

func serve(c *cli.Context, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("component", "council-sim")
	s, err := serveSettingsFrom(c)
	if err != nil {
		return err
	}
	cfg := s.Config
	cfg.Logger = log
	if s.TokenFile != "" {
		if cfg.Token, err = readToken(s.TokenFile); err != nil {
			return err
		}
	}
	if cfg.MTLSAddr != "" {
		if cfg.ServerCert, cfg.ClientCAs, err = LoadServerTLS(s.CACert, s.ServerCert, s.ServerKey); err != nil {
			return fmt.Errorf("mtls listener: %w", err)
		}
	}
	if s.AccessLog != "" {
		f, err := os.OpenFile(s.AccessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("open access log: %w", err)
		}
		defer f.Close()
		cfg.AccessLog = f
	}

	if s.Runner {
		w, stop, err := startRunner(log)
		if err != nil {
			return err
		}
		defer stop()
		cfg.Runner = w
	}

	sim := New(cfg)
	if err := sim.Start(c.Context); err != nil {
		return err
	}
	defer sim.Close()
	// The pid file first: a script that has read the URLs can rely on it.
	if p := s.PIDFile; p != "" {
		if err := atomicfile.WriteFile(p, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(p)
	}
	for _, kv := range [][2]string{{"COUNCIL_URL", sim.PlainURL()}, {"COUNCIL_MTLS_URL", sim.MTLSURL()}, {"COUNCIL_SIM_CONTROL_URL", sim.ControlURL()}} {
		if kv[1] != "" {
			fmt.Fprintf(stdout, "%s=%s\n", kv[0], kv[1])
		}
	}
	<-c.Context.Done()
	log.Info("council simulator stopping", "reason", context.Cause(c.Context).Error())
	return nil
}

// startRunner starts this program again as `runner`, with a pipe to its
// stdin; stop closes the pipe (the runner then exits) and waits for it.
func startRunner(log *slog.Logger) (io.Writer, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("start runner: %w", err)
	}
	cmd := exec.Command(self, "runner")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("start runner: %w", err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start runner: %w", err)
	}
	log.Info("runner started", "pid", cmd.Process.Pid)
	return in, func() { in.Close(); cmd.Wait() }, nil
}

// windowFlag maps --context-window to Config.ContextWindow: on the command
// line 0 means none, as the usage says (in a Config, 0 is the default).
func windowFlag(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// readToken reads the bearer token from path. The token itself never
// appears in an error or a log line.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("read token file %s: file is empty", path)
	}
	return tok, nil
}

// parseAnswers reads repeated "substring=answer" rules. The first "=" splits,
// so an answer may contain "=" (a substring cannot).
func parseAnswers(rules []string) (map[string]string, error) {
	m := make(map[string]string, len(rules))
	for _, r := range rules {
		sub, ans, ok := strings.Cut(r, "=")
		if !ok || sub == "" {
			return nil, fmt.Errorf("parse --answer %q: want substring=answer", r)
		}
		m[sub] = ans
	}
	return m, nil
}

func writePKI(c *cli.Context, stdout io.Writer) error {
	s := pkiSettingsFrom(c)
	home, clients := s.Home, s.Clients
	caPath := filepath.Join(testpki.CertsDir(home), "ca.crt")
	if _, err := os.Stat(caPath); err == nil && !s.Force {
		return fmt.Errorf("pki: %s exists; refusing to replace a CA without --force", caPath)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pki: %w", err)
	}
	ca, err := testpki.NewCA("council-sim throwaway CA")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := testpki.WriteCouncilLayout(home, ca, clients...); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	fmt.Fprintf(stdout, "wrote throwaway CA, server cert and %d client certs under %s\n", len(clients), testpki.CertsDir(home))
	return nil
}
