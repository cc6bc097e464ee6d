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
			Name:  "pki",
			Usage: "write a throwaway CA, server cert and client certs under --home/.sanctum/certs (for the demo)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "home", Usage: "directory to lay the certs out under (required; never defaults to $HOME)", Required: true},
				&cli.StringFlag{Name: "clients", Usage: "comma-separated client names", Value: strings.Join(DefaultClients, ",")},
				&cli.BoolFlag{Name: "force", Usage: "overwrite an existing certs directory"},
			},
			Action: func(c *cli.Context) error { return writePKI(c, stdout) },
		}},
	}
}

func serveFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "listen", Usage: "plain HTTP listen address (empty = no plain listener)", Value: "127.0.0.1:1337"},
		&cli.StringFlag{Name: "mtls-listen", Usage: "mTLS listen address (empty = off); needs --ca-cert, --server-cert, --server-key"},
		&cli.StringFlag{Name: "ca-cert", Usage: "CA whose client certificates the mTLS listener accepts"},
		&cli.StringFlag{Name: "server-cert", Usage: "mTLS server certificate (PEM)"},
		&cli.StringFlag{Name: "server-key", Usage: "mTLS server key (PEM)"},
		&cli.StringFlag{Name: "token-file", Usage: "file holding the bearer token the plain listener requires (unset = no bearer check)"},
		&cli.StringFlag{Name: "control", Usage: "control listener address for POST /fault and GET /state (empty = off)"},
		&cli.StringFlag{Name: "fault", Usage: "initial fault: " + FaultNames(), Value: string(FaultNone)},
		&cli.DurationFlag{Name: "slow-delay", Usage: "delay before the first byte of chat under fault slow", Value: DefaultSlowDelay},
		&cli.IntFlag{Name: "diverge-after", Usage: "tokens kept identical under fault diverge", Value: DefaultDivergeAfter},
		&cli.DurationFlag{Name: "ttft", Usage: "pace: delay before the first token of every answer"},
		&cli.DurationFlag{Name: "token-delay", Usage: "pace: delay before every later token (decode speed = 1/token-delay)"},
		&cli.StringFlag{Name: "system-fingerprint", Usage: "pace: the system_fingerprint of every response (empty = none)"},
		&cli.IntFlag{Name: "context-window", Usage: "tokens (words) one request gets; a longer prompt is refused, or cut under fault truncate (0 or less = no window)", Value: DefaultContextWindow},
		&cli.StringSliceFlag{Name: "model", Usage: "model id to serve (repeatable; the first is the default)", Value: cli.NewStringSlice(DefaultModel)},
		&cli.StringSliceFlag{Name: "answer", Usage: "`substring=answer` rule: prompts containing substring get answer (repeatable)"},
		&cli.StringFlag{Name: "default-answer", Usage: "answer when no rule matches", Value: DefaultAnswer},
		&cli.StringFlag{Name: "personality", Usage: "also serve one real server's own endpoints: " + PersonalityNames(), Value: string(PersonalityGeneric)},
		&cli.StringFlag{Name: "backend-fault", Usage: "initial fault of the personality (loading|unloaded|on_cpu|expiring|version_changed|kv_full|engine_dead|cold; each personality supports some)", Value: string(BackendFaultNone)},
		&cli.DurationFlag{Name: "loading-for", Usage: "how long backend fault loading lasts (0 = until changed)"},
		&cli.DurationFlag{Name: "load-time", Usage: "how long backend fault cold's load of the model takes", Value: DefaultLoadTime},
		&cli.StringFlag{Name: "crash-signal", Usage: "signal fault crash dies of (SEGV, BUS, ABRT, KILL, ... or a number)", Value: DefaultCrashSignal},
		&cli.StringFlag{Name: "crash-line", Usage: "line fault crash writes to --access-log before it dies", Value: DefaultCrashLine},
		&cli.StringFlag{Name: "access-log", Usage: "append one line per request to this file (empty = none)"},
		&cli.StringSliceFlag{Name: "say", Usage: "a line written to --access-log, as it is, once serving (repeatable): a server's banner, or a server that prints its service manager's words"},
		&cli.StringFlag{Name: "access-log-format", Usage: "the access log's format: " + strings.Join(AccessLogFormats, "|") + " (Ollama's gin lines, llama.cpp's, uvicorn's for vLLM)", Value: AccessLogCouncil},
		&cli.StringFlag{Name: "pid-file", Usage: "write the process id here once listening; removed on exit"},
		&cli.BoolFlag{Name: "runner", Usage: "do fault busy's work in a child process (`council-sim runner`), as Ollama's `ollama runner` works for `ollama serve`"},
	}
}

func serve(c *cli.Context, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("component", "council-sim")
	fault, err := ParseFault(c.String("fault"))
	if err != nil {
		return err
	}
	answers, err := parseAnswers(c.StringSlice("answer"))
	if err != nil {
		return err
	}
	personality, err := ParsePersonality(c.String("personality"))
	if err != nil {
		return err
	}
	crashSignal, err := ParseCrashSignal(c.String("crash-signal"))
	if err != nil {
		return err
	}
	cfg := Config{
		CrashSignal:     crashSignal,
		CrashLine:       c.String("crash-line"),
		Say:             c.StringSlice("say"),
		PlainAddr:       c.String("listen"),
		DisablePlain:    c.String("listen") == "",
		MTLSAddr:        c.String("mtls-listen"),
		ControlAddr:     c.String("control"),
		Models:          c.StringSlice("model"),
		Answers:         answers,
		DefaultAnswer:   c.String("default-answer"),
		Fault:           fault,
		AccessLogFormat: c.String("access-log-format"),
		SlowDelay:       c.Duration("slow-delay"),
		DivergeAfter:    c.Int("diverge-after"),
		Pace:            Pace{TTFT: c.Duration("ttft"), TokenDelay: c.Duration("token-delay"), Fingerprint: c.String("system-fingerprint")},
		ContextWindow:   windowFlag(c.Int("context-window")),
		Personality:     PersonalityConfig{Personality: personality, BackendFault: BackendFault(c.String("backend-fault")), LoadingFor: c.Duration("loading-for"), LoadTime: c.Duration("load-time")},
		Logger:          log,
	}
	if f := c.String("token-file"); f != "" {
		if cfg.Token, err = readToken(f); err != nil {
			return err
		}
	}
	if cfg.MTLSAddr != "" {
		if cfg.ServerCert, cfg.ClientCAs, err = LoadServerTLS(c.String("ca-cert"), c.String("server-cert"), c.String("server-key")); err != nil {
			return fmt.Errorf("mtls listener: %w", err)
		}
	}
	if p := c.String("access-log"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("open access log: %w", err)
		}
		defer f.Close()
		cfg.AccessLog = f
	}

	if c.Bool("runner") {
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
	if p := c.String("pid-file"); p != "" {
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
	home := c.String("home")
	var clients []string
	for _, name := range strings.Split(c.String("clients"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			clients = append(clients, name)
		}
	}
	caPath := filepath.Join(testpki.CertsDir(home), "ca.crt")
	if _, err := os.Stat(caPath); err == nil && !c.Bool("force") {
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
