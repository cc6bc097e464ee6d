package paritysmoke

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/server/transport"
)

// flags are the probe's own settings, each with its env var and default.
func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "prompts", EnvVars: []string{"COUNCIL_PARITY_PROMPTS"}, Usage: "prompt file (JSON, see the package doc); empty = the 10 prompts built into the binary"},
		&cli.DurationFlag{Name: "prompt-timeout", EnvVars: []string{"COUNCIL_PARITY_PROMPT_TIMEOUT"}, Value: defaultPromptTimeout, Usage: "deadline of one prompt on one backend; a hung prompt fails alone"},
		&cli.Int64Flag{Name: "seed", EnvVars: []string{"COUNCIL_PARITY_SEED"}, Value: defaultSeed, Usage: "sampling seed sent with every prompt (0 = none)"},
		&cli.BoolFlag{Name: "logprobs", EnvVars: []string{"COUNCIL_PARITY_LOGPROBS"}, Value: true, Usage: "ask for the servers' tokens and compare those when both return them"},
		&cli.IntFlag{Name: "max-failures", EnvVars: []string{"COUNCIL_PARITY_MAX_FAILURES"}, Value: defaultMaxFailures, Usage: "failing prompts tolerated before the set fails"},
		&cli.IntFlag{Name: "min-prefix", EnvVars: []string{"COUNCIL_PARITY_MIN_PREFIX"}, Value: defaultMinPrefix, Usage: "with a reference: answers that differ must agree for at least this many tokens"},
		&cli.StringFlag{Name: "reference-url", EnvVars: []string{"COUNCIL_REFERENCE_URL"}, Usage: "second backend to compare with (empty = no comparison)"},
		&cli.StringFlag{Name: "reference-transport", EnvVars: []string{"COUNCIL_REFERENCE_TRANSPORT"}, Value: "auto", Usage: "auto|mtls|bearer for the reference: auto uses mTLS when its full cert set is given"},
		&cli.StringFlag{Name: "reference-token-file", EnvVars: []string{"COUNCIL_REFERENCE_TOKEN_FILE"}, Usage: "bearer token file of the reference (mode 0600; empty = no token)"},
		&cli.StringFlag{Name: "reference-ca-cert", EnvVars: []string{"COUNCIL_REFERENCE_CA_CERT"}, Usage: "CA certificate of the reference's TLS listener"},
		&cli.StringFlag{Name: "reference-client-cert", EnvVars: []string{"COUNCIL_REFERENCE_CLIENT_CERT"}, Usage: "client certificate for an mTLS reference"},
		&cli.StringFlag{Name: "reference-client-key", EnvVars: []string{"COUNCIL_REFERENCE_CLIENT_KEY"}, Usage: "client key for an mTLS reference (mode 0600)"},
		&cli.StringFlag{Name: "reference-model", EnvVars: []string{"COUNCIL_REFERENCE_MODEL"}, Usage: "model id at the reference; empty = its first listed model"},
		&cli.StringFlag{Name: "record", EnvVars: []string{"COUNCIL_PARITY_RECORD"}, Usage: "write a golden prompt file from the primary's answers to this path, for review"},
		&cli.BoolFlag{Name: "force", EnvVars: []string{"COUNCIL_PARITY_FORCE"}, Usage: "let --record replace an existing file"},
		&cli.StringFlag{Name: "table", EnvVars: []string{"COUNCIL_PARITY_TABLE"}, Value: "auto", Usage: "auto|always|never: print the per-prompt table (auto = on a terminal)"},
	}
}

// settings are the probe's resolved settings.
type settings struct {
	Prompts       string
	PromptTimeout time.Duration
	Seed          int64
	Logprobs      bool
	MaxFailures   int
	MinPrefix     int
	Reference     transport.Config
	ReferenceURL  string
	RefModel      string
	Record        string
	Force         bool
	Table         string
}

// settingsFrom binds the probe's flags from c and validates them.
func settingsFrom(c *cli.Context) (settings, error) {
	o := settings{
		Prompts: c.String("prompts"), PromptTimeout: c.Duration("prompt-timeout"), Seed: c.Int64("seed"),
		Logprobs: c.Bool("logprobs"), MaxFailures: c.Int("max-failures"), MinPrefix: c.Int("min-prefix"),
		ReferenceURL: c.String("reference-url"), RefModel: c.String("reference-model"),
		Record: c.String("record"), Force: c.Bool("force"), Table: c.String("table"),
	}
	o.Reference = transport.Config{
		Mode: transport.Mode(c.String("reference-transport")), URL: o.ReferenceURL, MTLSURL: o.ReferenceURL,
		CACert: c.String("reference-ca-cert"), ClientCert: c.String("reference-client-cert"),
		ClientKey: c.String("reference-client-key"), TokenFile: c.String("reference-token-file"),
	}
	return o, o.validate()
}

// validate reports the first bad setting.
func (o settings) validate() error {
	switch {
	case o.PromptTimeout <= 0:
		return fmt.Errorf("bad --prompt-timeout %s: want a positive duration", o.PromptTimeout)
	case o.MaxFailures < 0:
		return fmt.Errorf("bad --max-failures %d: want 0 or more", o.MaxFailures)
	case o.MinPrefix < 0:
		return fmt.Errorf("bad --min-prefix %d: want 0 or more", o.MinPrefix)
	case o.Table != "auto" && o.Table != "always" && o.Table != "never":
		return fmt.Errorf("bad --table %q: want auto, always or never", o.Table)
	case o.Record != "" && o.ReferenceURL != "":
		return errors.New("bad --record with --reference-url: --record records the primary (--url); drop --reference-url")
	}
	return nil
}
