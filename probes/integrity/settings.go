package integrity

import (
	"runtime"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/host/primarycheck"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
)

// settings are the probe's own settings, read from its flags. The
// binary, signature and metallib checks are pkg/host/primarycheck's, shared with
// council-guardian restore-primary.
type settings struct {
	primarycheck.Settings

	PIDSource string
	PIDFile   string
	Port      int
	Lsof      string

	Manifest       string
	ManifestSig    string
	ManifestPubKey string
	FullEvery      time.Duration
	HashWorkers    int

	PromoteAfter  int
	FallbackURL   string
	VerifyTimeout time.Duration

	// Mac: the host is a Mac, as its service manager (launchd) says: the
	// Metal library and codesign apply. Under systemd (Linux) they do not,
	// and are shown as not applicable, never as failures.
	Mac bool
}

func flags() []cli.Flag {
	return append(primarycheck.Flags(),
		&cli.StringFlag{Name: "pid-source", EnvVars: []string{"COUNCIL_PID_SOURCE"}, Value: pidAuto,
			Usage: "where to find the running primary's pid: auto (the service manager on macOS; else pid-file if set, else systemd's MainPID, or port without systemd), service (launchctl print's pid, systemd's MainPID), pid-file, port"},
		&cli.StringFlag{Name: "pid-file", EnvVars: []string{"COUNCIL_PID_FILE"}, Usage: "pid file of the primary (pid source pid-file)"},
		&cli.IntFlag{Name: "primary-port", EnvVars: []string{"COUNCIL_PRIMARY_PORT"}, Value: 1337, Usage: "port the primary listens on (pid source port, via /proc/net/tcp)"},
		&cli.StringFlag{Name: "lsof", EnvVars: []string{"COUNCIL_LSOF"}, Value: "lsof", Usage: "lsof binary (macOS: the running process's text vnode)"},
		&cli.StringFlag{Name: "manifest", EnvVars: []string{"COUNCIL_MANIFEST"}, Usage: "signed shasum -a 256 manifest of the model weights; empty disables manifest_invalid"},
		&cli.StringFlag{Name: "manifest-sig", EnvVars: []string{"COUNCIL_MANIFEST_SIG"}, Usage: "detached ed25519 signature of the manifest (default <manifest>.sig)"},
		&cli.StringFlag{Name: "manifest-pubkey", EnvVars: []string{"COUNCIL_MANIFEST_PUBKEY"}, Usage: "public key of the manifest signature (default --signing-pubkey)"},
		&cli.DurationFlag{Name: "full-every", EnvVars: []string{"COUNCIL_FULL_EVERY"}, Value: 24 * time.Hour,
			Usage: "re-hash every weight file at least this often, ignoring the cache (negative: never)"},
		&cli.IntFlag{Name: "hash-workers", EnvVars: []string{"COUNCIL_HASH_WORKERS"}, Usage: "files hashed at once (0: one per CPU)"},
		&cli.IntFlag{Name: "promote-after", EnvVars: []string{"COUNCIL_PROMOTE_AFTER"}, Value: 1,
			Usage: "consecutive failing ticks of binary_missing or signature_invalid before promoting the fallback (raise it to ride out a deploy)"},
		&cli.StringFlag{Name: "fallback-url", EnvVars: []string{"COUNCIL_FALLBACK_URL"}, Value: "http://127.0.0.1:1337",
			Usage: "after promoting, the fallback counts as serving once its service manager runs it and this URL's /v1/models answers (empty: the manager only)"},
		&cli.DurationFlag{Name: "verify-timeout", EnvVars: []string{"COUNCIL_VERIFY_TIMEOUT"}, Value: service.DefaultVerifyTimeout,
			Usage: "how long a promoted fallback has to start serving"},
	)
}

// settingsFrom binds the probe's flags from c and validates them: the
// primary checks' of --primary-binary, and --pid-source resolved for the
// service manager --service-manager names (validated before the tick).
func settingsFrom(c *cli.Context) (settings, error) {
	cfg := probe.CommonFrom(c)
	s := settings{
		Settings: primarycheck.SettingsFrom(c, cfg.PrimaryBinary),
		PIDFile:  c.String("pid-file"), Port: c.Int("primary-port"), Lsof: c.String("lsof"),
		Manifest: c.String("manifest"), ManifestSig: c.String("manifest-sig"), ManifestPubKey: c.String("manifest-pubkey"),
		FullEvery: c.Duration("full-every"), HashWorkers: c.Int("hash-workers"),
		PromoteAfter: c.Int("promote-after"), FallbackURL: c.String("fallback-url"), VerifyTimeout: c.Duration("verify-timeout"),
	}
	kind, _ := probe.ManagerKind(cfg.ServiceManager, runtime.GOOS) // validated before the tick
	s.PIDSource = resolvePIDSource(c.String("pid-source"), runtime.GOOS, s.PIDFile, kind)
	s.Mac = kind == service.Launchd
	if s.ManifestPubKey == "" {
		s.ManifestPubKey = s.Signature.PubKey
	}
	if s.PromoteAfter < 1 {
		s.PromoteAfter = 1
	}
	return s, s.validate()
}

// validate refuses no value today, deliberately: each check judges its
// own settings on its own channel while the others still run (an unknown
// --pid-source is stale_process's UNKNOWN, not the whole tick's), and a
// --promote-after below 1 is 1.
func (s settings) validate() error { return nil }

// keySettings are the key tools' flags: keygen's --out and --name, sign's
// --key, verify's --pubkey and --sig (each subcommand has its own).
type keySettings struct {
	Out, Name   string
	Key         string
	PubKey, Sig string
}

// keySettingsFrom binds a key subcommand's flags from c.
func keySettingsFrom(c *cli.Context) keySettings {
	return keySettings{Out: c.String("out"), Name: c.String("name"), Key: c.String("key"), PubKey: c.String("pubkey"), Sig: c.String("sig")}
}
