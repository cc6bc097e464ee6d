package councilsim

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// serveFlags are the simulator's flags (the root command serves).
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

// pkiFlags are `council-sim pki`'s flags.
func pkiFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "home", Usage: "directory to lay the certs out under (required; never defaults to $HOME)", Required: true},
		&cli.StringFlag{Name: "clients", Usage: "comma-separated client names", Value: strings.Join(DefaultClients, ",")},
		&cli.BoolFlag{Name: "force", Usage: "overwrite an existing certs directory"},
	}
}

// serveSettings are the simulator's flags: its Config (every value parsed;
// the logger, token, TLS and access log are serve's to open) and the files
// serve opens.
type serveSettings struct {
	Config                        Config
	TokenFile                     string
	CACert, ServerCert, ServerKey string
	AccessLog, PIDFile            string
	Runner                        bool
}

// serveSettingsFrom binds and parses the simulator's flags from c.
func serveSettingsFrom(c *cli.Context) (serveSettings, error) {
	fault, err := ParseFault(c.String("fault"))
	if err != nil {
		return serveSettings{}, err
	}
	answers, err := parseAnswers(c.StringSlice("answer"))
	if err != nil {
		return serveSettings{}, err
	}
	personality, err := ParsePersonality(c.String("personality"))
	if err != nil {
		return serveSettings{}, err
	}
	crashSignal, err := ParseCrashSignal(c.String("crash-signal"))
	if err != nil {
		return serveSettings{}, err
	}
	return serveSettings{
		Config: Config{
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
		},
		TokenFile: c.String("token-file"),
		CACert:    c.String("ca-cert"), ServerCert: c.String("server-cert"), ServerKey: c.String("server-key"),
		AccessLog: c.String("access-log"), PIDFile: c.String("pid-file"), Runner: c.Bool("runner"),
	}, nil
}

// pkiSettings are `council-sim pki`'s flags.
type pkiSettings struct {
	Home    string
	Clients []string
	Force   bool
}

// pkiSettingsFrom binds `council-sim pki`'s flags from c.
func pkiSettingsFrom(c *cli.Context) pkiSettings {
	s := pkiSettings{Home: c.String("home"), Force: c.Bool("force")}
	for _, name := range strings.Split(c.String("clients"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			s.Clients = append(s.Clients, name)
		}
	}
	return s
}
