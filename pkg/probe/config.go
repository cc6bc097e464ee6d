package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/host/paths"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/host/systemctl"
	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// Common is the resolved value of every common flag (docs/DESIGN.md
// section 2).
type Common struct {
	Home string

	URL, MTLSURL, Transport         string
	CACert, ClientCert, ClientKey   string
	TokenFile                       string
	RequireMTLS                     bool
	Model                           string
	Backend                         string
	StateDir, LogFile, ForceFlowURL string
	AlertmanagerURL, Instance       string
	Launchctl                       string
	// ServiceManager is --service-manager as given (auto, launchd,
	// systemd); Scope, Systemctl and Journalctl are systemd's settings.
	ServiceManager               string
	Scope, Systemctl, Journalctl string
	DryRun                       bool
	MetricsDir                   string
	ConfigFile                   string
	LogMaxBytes                  int64
	AlertBudget                  time.Duration
	OutboxMax                    int
	CertWarn                     time.Duration
	LabelPrefix                  string
	PrimaryLabel, FallbackLabel  string
	FallbackPlist, FallbackLock  string
	RemediationLock              string
	PrimaryBinary, PrimaryLog    string
}

// TransportConfig is the council transport the common flags describe.
func (c Common) TransportConfig() transport.Config {
	return transport.Config{
		Mode: transport.Mode(c.Transport), RequireMTLS: c.RequireMTLS,
		URL: c.URL, MTLSURL: c.MTLSURL, CACert: c.CACert, ClientCert: c.ClientCert, ClientKey: c.ClientKey,
		TokenFile: c.TokenFile,
	}
}

// ClientName is the cert/key basename of a probe under
// ~/.sanctum/certs/clients/ (guardian, canary, drift, integrity,
// parity-smoke).
func ClientName(probe string) string { return probe }

// home is $HOME at run time, so tests can point it at a temporary directory.
func home() string { return string(paths.UserHome()) }

// hostname is the default instance label.
func hostname() string {
	h, _ := os.Hostname()
	return h
}

// commonFlags are the contract's flags, with env vars and $HOME-relative
// defaults. Names are part of the contract: do not rename.
func commonFlags(name string, network, launchd bool) []cli.Flag {
	h := paths.UserHome()
	client := ClientName(name)
	flags := []cli.Flag{
		&cli.StringFlag{Name: "config", EnvVars: []string{"COUNCIL_CONFIG"}, Value: h.ConfigFile(),
			Usage: "optional shared config file (`key = value` lines; [probe] sections); flags and env vars win over it"},
		&cli.StringFlag{Name: "state-dir", EnvVars: []string{"COUNCIL_STATE_DIR"}, Value: h.StateDir(), Usage: "directory for state, locks and the alert outbox"},
		&cli.StringFlag{Name: "log-file", EnvVars: []string{"COUNCIL_LOG_FILE"}, Value: h.ProbeLog(name),
			Usage: "JSON-lines event log; `-` writes events to stdout"},
		&cli.Int64Flag{Name: "log-max-bytes", EnvVars: []string{"COUNCIL_LOG_MAX_BYTES"}, Value: 10 << 20, Usage: "rotate the log past this size (two old files kept)"},
		&cli.StringFlag{Name: "force-flow-url", EnvVars: []string{"FORCE_FLOW_URL"}, Value: "http://127.0.0.1:4077/notify", Usage: "Force Flow notify endpoint; empty disables delivery"},
		&cli.StringFlag{Name: "alertmanager-url", EnvVars: []string{"COUNCIL_ALERTMANAGER_URL"}, Usage: "Alertmanager base URL (alerts go to <url>/api/v2/alerts, beside Force Flow); empty = off"},
		&cli.StringFlag{Name: "instance", EnvVars: []string{"COUNCIL_INSTANCE"}, Value: hostname(), Usage: "the instance label of Alertmanager alerts: this council host"},
		&cli.DurationFlag{Name: "alert-budget", EnvVars: []string{"COUNCIL_ALERT_BUDGET"}, Value: 8 * time.Second, Usage: "total time a tick may spend delivering alerts before spooling the rest"},
		&cli.IntFlag{Name: "outbox-max", EnvVars: []string{"COUNCIL_OUTBOX_MAX"}, Value: 500, Usage: "most undelivered alerts kept; overflow is counted and reported"},
		&cli.StringFlag{Name: "metrics-dir", EnvVars: []string{"COUNCIL_METRICS_DIR"}, Usage: "write a node_exporter textfile-collector file here each tick (empty = off)"},
		&cli.StringFlag{Name: "service-manager", EnvVars: []string{"COUNCIL_SERVICE_MANAGER"}, Value: "auto",
			Usage: "auto|launchd|systemd: the service manager that runs the servers and the probes (auto: launchd on macOS, systemd on Linux)"},
		&cli.StringFlag{Name: "scope", EnvVars: []string{"COUNCIL_SCOPE"}, Value: "user",
			Usage: "user|system: systemd's manager of the servers (systemctl --user, or the system's: a remediation there needs root or the polkit rule in the README)"},
		&cli.StringFlag{Name: "launchctl", EnvVars: []string{"COUNCIL_LAUNCHCTL"}, Value: "launchctl", Usage: "path of the launchctl binary to run"},
		&cli.StringFlag{Name: "systemctl", EnvVars: []string{"COUNCIL_SYSTEMCTL"}, Value: "systemctl", Usage: "path of the systemctl binary to run"},
		&cli.StringFlag{Name: "journalctl", EnvVars: []string{"COUNCIL_JOURNALCTL"}, Value: "journalctl", Usage: "path of the journalctl binary to run"},
		&cli.BoolFlag{Name: "dry-run", EnvVars: []string{"COUNCIL_DRY_RUN"}, Usage: "run every check; print remediation and alert requests instead of executing them"},
	}
	if network {
		flags = append(flags,
			&cli.StringFlag{Name: "url", EnvVars: []string{"COUNCIL_URL"}, Value: "http://127.0.0.1:1337", Usage: "bearer/plain council URL"},
			&cli.StringFlag{Name: "mtls-url", EnvVars: []string{"COUNCIL_MTLS_URL"}, Value: "https://127.0.0.1:1338", Usage: "mTLS council URL"},
			&cli.StringFlag{Name: "transport", EnvVars: []string{"COUNCIL_TRANSPORT"}, Value: "auto", Usage: "auto|mtls|bearer: auto uses mTLS when the full cert set exists"},
			&cli.BoolFlag{Name: "require-mtls", EnvVars: []string{"COUNCIL_REQUIRE_MTLS"}, Usage: "refuse to run without the mTLS cert set (after bearer retirement)"},
			&cli.StringFlag{Name: "ca-cert", EnvVars: []string{"COUNCIL_CA_CERT"}, Value: h.CACert(), Usage: "CA certificate of the council's mTLS listener"},
			&cli.StringFlag{Name: "client-cert", EnvVars: []string{"COUNCIL_CLIENT_CERT"}, Value: h.ClientCert(client), Usage: "this probe's client certificate"},
			&cli.StringFlag{Name: "client-key", EnvVars: []string{"COUNCIL_CLIENT_KEY"}, Value: h.ClientKey(client), Usage: "this probe's client key (mode 0600)"},
			&cli.StringFlag{Name: "token-file", EnvVars: []string{"COUNCIL_TOKEN_FILE"}, Value: h.TokenFile(),
				Usage: "bearer token file (mode 0600, owned by you); missing = no Authorization header"},
			&cli.StringFlag{Name: "backend", EnvVars: []string{"COUNCIL_BACKEND"}, Value: "auto", Usage: "the server behind --url: " + backend.KindNames() + " (auto detects it, cached for a day)"},
			&cli.StringFlag{Name: "model", EnvVars: []string{"COUNCIL_MODEL"}, Usage: "model id to expect/use; empty = the server's own (the first model /v1/models lists; for the guardian's residency checks, every model the server lists as loaded)"},
			&cli.DurationFlag{Name: "cert-warn", EnvVars: []string{"COUNCIL_CERT_WARN"}, Value: 30 * 24 * time.Hour, Usage: "warn when the client certificate expires within this long"},
		)
	}
	if launchd {
		flags = append(flags, LayoutFlags()...)
	}
	return flags
}

// PrimaryLogJournal is the --primary-log value of a primary that logs to
// systemd's journal: its lines are read with journalctl -u <primary>.
const PrimaryLogJournal = "journal"

// LayoutFlags are the service layout settings shared by the probes that
// look at or remediate the servers' services (guardian, integrity, drift).
// A label is a launchd label or, under systemd, a unit ("ollama.service";
// a name without a unit type gets ".service", as systemctl does); the
// -unit spellings are aliases of the -label flags.
func LayoutFlags() []cli.Flag {
	h := paths.UserHome()
	return []cli.Flag{
		&cli.StringFlag{Name: "label-prefix", EnvVars: []string{"COUNCIL_LABEL_PREFIX"}, Value: "com.sanctum", Usage: "launchd label prefix of the probes (<prefix>.council-<name>; systemd units are council-<name>.service/.timer)"},
		&cli.StringFlag{Name: "primary-label", Aliases: []string{"primary-unit"}, EnvVars: []string{"COUNCIL_PRIMARY_LABEL", "COUNCIL_PRIMARY_UNIT"}, Value: "com.sanctum.mlx",
			Usage: "launchd label, or systemd unit, of the primary server"},
		&cli.StringFlag{Name: "primary-binary", EnvVars: []string{"COUNCIL_PRIMARY_BINARY"}, Value: h.PrimaryBinary(), Usage: "path of the primary server binary"},
		&cli.StringFlag{Name: "primary-log", EnvVars: []string{"COUNCIL_PRIMARY_LOG"}, Value: h.PrimaryLog(),
			Usage: "the primary server's log file (busy and fatal-signature scans), or \"journal\" for systemd's journal of --primary-label (journalctl -u)"},
		&cli.StringFlag{Name: "fallback-label", Aliases: []string{"fallback-unit"}, EnvVars: []string{"COUNCIL_FALLBACK_LABEL", "COUNCIL_FALLBACK_UNIT"}, Value: "com.sanctum.server-mlx",
			Usage: "launchd label, or systemd unit, of the fallback server"},
		&cli.StringFlag{Name: "fallback-plist", EnvVars: []string{"COUNCIL_FALLBACK_PLIST"}, Value: filepath.Join(h.LaunchAgents(), "com.sanctum.server-mlx.plist"),
			Usage: "plist of the fallback server (launchd; systemd finds its unit itself)"},
		&cli.StringFlag{Name: "fallback-lock", EnvVars: []string{"COUNCIL_FALLBACK_LOCK"}, Value: paths.FallbackLock(h.StateDir()), Usage: "exists while the fallback serves; never fall back from the fallback"},
		&cli.StringFlag{Name: "remediation-lock", EnvVars: []string{"COUNCIL_REMEDIATION_LOCK"}, Value: paths.RemediationLock(h.StateDir()), Usage: "shared lock held while any probe changes the service manager's state"},
	}
}

// CommonFrom reads the common flags from a parsed context (a subcommand's
// included: its flags are looked up in its parents too).
func CommonFrom(c *cli.Context) Common { return commonFrom(c) }

// commonFrom reads the common flags from a parsed context.
func commonFrom(c *cli.Context) Common {
	return Common{
		Home: home(), ConfigFile: c.String("config"),
		URL: c.String("url"), MTLSURL: c.String("mtls-url"), Transport: c.String("transport"),
		CACert: c.String("ca-cert"), ClientCert: c.String("client-cert"), ClientKey: c.String("client-key"),
		TokenFile: c.String("token-file"), RequireMTLS: c.Bool("require-mtls"), Model: c.String("model"),
		Backend:  c.String("backend"),
		StateDir: c.String("state-dir"), LogFile: c.String("log-file"), LogMaxBytes: c.Int64("log-max-bytes"),
		ForceFlowURL: c.String("force-flow-url"), AlertmanagerURL: c.String("alertmanager-url"), Instance: c.String("instance"),
		AlertBudget: c.Duration("alert-budget"), OutboxMax: c.Int("outbox-max"),
		MetricsDir: c.String("metrics-dir"), Launchctl: c.String("launchctl"), DryRun: c.Bool("dry-run"),
		ServiceManager: c.String("service-manager"), Scope: c.String("scope"),
		Systemctl: c.String("systemctl"), Journalctl: c.String("journalctl"),
		CertWarn:    c.Duration("cert-warn"),
		LabelPrefix: c.String("label-prefix"), PrimaryLabel: c.String("primary-label"), FallbackLabel: c.String("fallback-label"),
		FallbackPlist: c.String("fallback-plist"), FallbackLock: c.String("fallback-lock"), RemediationLock: c.String("remediation-lock"),
		PrimaryBinary: c.String("primary-binary"), PrimaryLog: c.String("primary-log"),
	}
}

// ConfigFile is a parsed shared config file: section "" holds settings for
// every probe; a [name] section overrides them for one probe.
type ConfigFile map[string]map[string]string

// ParseConfig reads the shared config format:
//
//	# comment
//	force-flow-url = http://127.0.0.1:4077/notify
//	[canary]
//	stream = true
//
// Keys are flag names. Values may be quoted with double quotes.
func ParseConfig(r io.Reader) (ConfigFile, error) {
	cf := ConfigFile{"": {}}
	section := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("config line %d: bad section header %q", n, line)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			if cf[section] == nil {
				cf[section] = map[string]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("config line %d: want `key = value`, got %q", n, line)
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		cf[section][key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return cf, nil
}

// applyConfig fills flags that neither the command line nor the environment
// set from the shared config file (precedence: flag > env > file > default).
// A missing file is fine; an unreadable or malformed one is an error. Keys
// that name no flag of this probe are ignored, since the file is shared by
// all probes, unless they sit in this probe's own section.
func applyConfig(c *cli.Context, probe string) error {
	path := c.String("config")
	// A FIFO at the config path must not hang the tick. (A symlink is
	// fine here: dotfile managers link config files.)
	f, err := atomicfile.OpenRegular(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	cf, err := ParseConfig(f)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	// fromFile remembers keys the global section set, so this probe's
	// section may override them (IsSet is true after Set).
	fromFile := map[string]bool{}
	known := map[string]bool{}
	for _, fl := range c.App.Flags {
		for _, n := range fl.Names() {
			known[n] = true
		}
	}
	for _, section := range []string{"", probe} {
		for k, v := range cf[section] {
			if !known[k] {
				if section == probe {
					return fmt.Errorf("config %s: [%s] sets unknown setting %q", path, probe, k)
				}
				continue
			}
			if c.IsSet(k) && !fromFile[k] {
				continue
			}
			if err := c.Set(k, v); err != nil {
				return fmt.Errorf("config %s: %s: %w", path, k, err)
			}
			fromFile[k] = true
		}
	}
	return nil
}

// configProblem is a setting that cannot work, found at startup.
type configProblem struct {
	check   string // the channel: transport for the council URLs, config otherwise
	setting string // the flag name
	err     error
}

// validateConfig checks, before any check runs, the settings that would
// otherwise fail only when they are used: every URL flag (any flag named
// url or *-url, the probe's own included; an empty one means "off") and,
// for the probes with the launchd layout, the labels. A typo there must be
// a configuration fault now, not a server that looks down (and is
// restarted) or a restart that fails when it is finally needed.
func validateConfig(c *cli.Context, p *Probe) []configProblem {
	var out []configProblem
	for _, fl := range c.App.Flags {
		name := fl.Names()[0]
		if name != "url" && !strings.HasSuffix(name, "-url") {
			continue
		}
		v := c.String(name)
		if v == "" {
			continue
		}
		check := CheckConfig
		if name == "url" || name == "mtls-url" {
			check = CheckTransport
		}
		if err := transport.CheckURL("--"+name, v, name == "mtls-url"); err != nil {
			out = append(out, configProblem{check, name, err})
		}
	}
	kind, err := ManagerKind(c.String("service-manager"), runtime.GOOS)
	if err != nil {
		out = append(out, configProblem{CheckConfig, "service-manager", err})
	}
	if _, err := systemctl.ParseScope(c.String("scope")); err != nil {
		out = append(out, configProblem{CheckConfig, "scope", fmt.Errorf("--scope: %w", err)})
	}
	if p.Layout && err == nil {
		for _, name := range []string{"primary-label", "fallback-label"} {
			if err := checkName(kind, c.String(name)); err != nil {
				out = append(out, configProblem{CheckConfig, name, fmt.Errorf("--%s: %w", name, err)})
			}
		}
		if kind == service.Launchd {
			if err := launchctl.ValidateLabel(c.String("label-prefix") + ".council-" + p.Name); err != nil {
				out = append(out, configProblem{CheckConfig, "label-prefix", fmt.Errorf("--label-prefix: %w", err)})
			}
		}
	}
	return out
}

func problemWith(problems []configProblem, setting string) bool {
	for _, pr := range problems {
		if pr.setting == setting {
			return true
		}
	}
	return false
}

// reportConfig reports the configuration problems, UNKNOWN on their
// channel (one alert, never a remediation), and returns whether the tick
// may run its checks. A clean configuration closes the config channel.
func (t *Tick) reportConfig(problems []configProblem) bool {
	if len(problems) == 0 {
		// Only a channel that exists: the state of a probe that never had
		// a configuration fault does not grow a config entry.
		if t.engine.Channels[CheckConfig] != nil {
			t.Clear(CheckConfig)
		}
		return true
	}
	for _, pr := range problems {
		msg := pr.err.Error() + " (configuration error: no check was run)"
		t.Unknown(pr.check, pr.check+"_error", msg, "setting", pr.setting)
		fmt.Fprintf(t.stderr(), "%s: %s\n", t.Probe.Binary(), msg)
	}
	return false
}
