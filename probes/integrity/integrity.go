// Package integrity is the council-integrity probe: "will the next respawn
// work". Every five minutes it checks, each on its own alert channel at
// error, that the primary server binary exists and is executable
// (binary_missing), carries a valid signature (signature_invalid), has its
// Metal shader library beside it (metallib_missing), is what the running
// process executes (stale_process) and that the model weights match their
// signed manifest (manifest_invalid). One failing check never hides
// another: each runs and reports on its own.
//
// A missing or badly signed binary means the next respawn will fail, so
// those two checks promote the fallback server (launchctl.PromoteFallback,
// under the shared remediation lock, never from the fallback). The other
// three are fixed by a rebuild or a restart and only alert.
//
// The keygen, sign and verify subcommands make and check the Ed25519
// signatures the checks consume where codesign does not exist.
//
// # Setting up
//
// On macOS the signature check is codesign; pin it to the release identity
// with --codesign-requirement <TeamID> so an ad-hoc re-sign fails. Weights,
// and the binary elsewhere, use Ed25519 detached signatures:
//
//	council-integrity keygen --out ~/keys          # keep the .key off the host
//	council-integrity sign --key ~/keys/council-integrity.key sanctum-mlx
//	shasum -a 256 shards/* > SHA256SUMS
//	council-integrity sign --key ~/keys/council-integrity.key SHA256SUMS
//	council-integrity --signing-pubkey ~/keys/council-integrity.pub --manifest SHA256SUMS
//
// The manifest's signature is verified over the exact bytes then parsed,
// before any weight file is read. Weight digests are cached in
// integrity-hashcache.json in the state dir, keyed on (dev, inode, size,
// mtime, ctime), with a full re-hash every --full-every.
package integrity

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/alert"
	"github.com/sanctum/council-probes/pkg/launchctl"
	"github.com/sanctum/council-probes/pkg/primarycheck"
	"github.com/sanctum/council-probes/pkg/probe"
)

// The checks, each its own alert channel.
const (
	BinaryMissing    = "binary_missing"
	SignatureInvalid = "signature_invalid"
	MetallibMissing  = "metallib_missing"
	StaleProcess     = "stale_process"
	ManifestInvalid  = "manifest_invalid"
)

// Events the checks log besides the probe contract's.
const (
	EventOK         = "check_ok"
	EventFailed     = "check_failed"
	EventUnknown    = "check_unknown"
	EventSkipped    = "check_skipped"
	EventNotRunning = "not_running"
)

// commandTimeout bounds each external command (codesign, lsof, launchctl
// print) so a wedged tool cannot hold the tick.
const commandTimeout = 30 * time.Second

// Settings are the probe's own settings, read from its flags. The
// binary, signature and metallib checks are pkg/primarycheck's, shared with
// council-guardian restore-primary.
type Settings struct {
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
}

// New returns the council-integrity probe.
func New() *probe.Probe {
	return &probe.Probe{
		Name:     "integrity",
		Usage:    "check that the next respawn of the primary council server will work",
		Interval: 5 * time.Minute,
		Layout:   true,
		Description: "Checks, each on its own alert channel at error: binary_missing, signature_invalid, " +
			"metallib_missing, stale_process (not_running is its own warn state) and manifest_invalid. " +
			"binary_missing and signature_invalid promote the fallback (once; never from the fallback); " +
			"the others alert only. Exit codes: 0 ok, 1 warning, 2 critical, 3 unknown.",
		Flags:    flags(),
		Commands: commands(),
		Default:  alert.Policy{Threshold: 1, Cooldown: time.Hour},
		Tick:     tick,
	}
}

func flags() []cli.Flag {
	return append(primarycheck.Flags(),
		&cli.StringFlag{Name: "pid-source", EnvVars: []string{"COUNCIL_PID_SOURCE"}, Value: PIDAuto,
			Usage: "where to find the running primary's pid: auto (launchctl on macOS; else pid-file if set, else port), launchctl, pid-file, port"},
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
			Usage: "after promoting, the fallback counts as serving once launchd runs it and this URL's /v1/models answers (empty: launchd only)"},
		&cli.DurationFlag{Name: "verify-timeout", EnvVars: []string{"COUNCIL_VERIFY_TIMEOUT"}, Value: launchctl.DefaultVerifyTimeout,
			Usage: "how long a promoted fallback has to start serving"},
	)
}

// settingsFrom reads the probe's flags.
func settingsFrom(c *cli.Context, cfg probe.Common) Settings {
	s := Settings{
		Settings: primarycheck.SettingsFrom(c, cfg.PrimaryBinary),
		PIDFile:  c.String("pid-file"), Port: c.Int("primary-port"), Lsof: c.String("lsof"),
		Manifest: c.String("manifest"), ManifestSig: c.String("manifest-sig"), ManifestPubKey: c.String("manifest-pubkey"),
		FullEvery: c.Duration("full-every"), HashWorkers: c.Int("hash-workers"),
		PromoteAfter: c.Int("promote-after"), FallbackURL: c.String("fallback-url"), VerifyTimeout: c.Duration("verify-timeout"),
	}
	s.PIDSource = ResolvePIDSource(c.String("pid-source"), runtime.GOOS, s.PIDFile)
	if s.ManifestPubKey == "" {
		s.ManifestPubKey = s.Signature.PubKey
	}
	if s.PromoteAfter < 1 {
		s.PromoteAfter = 1
	}
	return s
}

func tick(ctx context.Context, t *probe.Tick) error {
	s := settingsFrom(t.C, t.Common)
	r := launchctl.New(t.Common.Launchctl)
	r.DryRun, r.Out = t.DryRun(), t.Out
	if s.VerifyTimeout > 0 {
		r.VerifyTimeout = s.VerifyTimeout
	}
	var ok []string

	if present := checkBinary(t, s, &ok); present {
		checkSignature(ctx, t, s, &ok)
	} else {
		// There is nothing to verify: one cause, one alert (binary_missing).
		// The signature channel is left as it was, neither failed nor passed.
		t.Log.Info(EventSkipped, "check", SignatureInvalid, "reason", "the binary is missing; reported on "+BinaryMissing)
	}
	checkMetallib(t, s, &ok)
	checkStale(ctx, t, s, r, &ok)
	checkManifest(ctx, t, s, &ok)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	remediate(ctx, t, s, r)
	t.OKSummary(strings.Join(ok, "; "))
	return nil
}

// checkBinary reports binary_missing and returns whether a file is there at
// all (a present but non-executable binary can still have its signature
// checked).
func checkBinary(t *probe.Tick, s Settings, ok *[]string) bool {
	info, err := primarycheck.CheckBinary(s.Binary, primarycheck.CurrentIdentity())
	attrs := []any{"binary", s.Binary}
	if info.Mode != 0 {
		attrs = append(attrs, "mode", fmt.Sprintf("%04o", info.Mode.Perm()), "uid", info.Owner.UID, "size", info.Size)
	}
	if err != nil {
		t.Fail(BinaryMissing, EventFailed, alert.Error, err.Error(), attrs...)
		return primarycheck.Present(s.Binary)
	}
	t.Pass(BinaryMissing, EventOK, append(attrs, "inode", info.Inode)...)
	*ok = append(*ok, "binary ok")
	return true
}

func checkSignature(ctx context.Context, t *probe.Tick, s Settings, ok *[]string) {
	v, skip := primarycheck.PlatformVerifier(s.Signature)
	if v == nil {
		t.Log.Info(EventSkipped, "check", SignatureInvalid, "reason", skip)
		*ok = append(*ok, "signature skipped (no key)")
		return
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	err := v.Verify(cctx, s.Binary)
	attrs := []any{"binary", s.Binary, "method", v.Describe()}
	switch {
	case err == nil:
		t.Pass(SignatureInvalid, EventOK, attrs...)
		*ok = append(*ok, "signature ok")
	case ctx.Err() != nil:
	case primarycheck.IsConfigError(err):
		t.Unknown(SignatureInvalid, EventUnknown, err.Error(), attrs...)
	default:
		t.Fail(SignatureInvalid, EventFailed, alert.Error, err.Error(), attrs...)
	}
}

func checkMetallib(t *probe.Tick, s Settings, ok *[]string) {
	p := primarycheck.MetallibPath(s.Binary, s.Metallib)
	size, err := primarycheck.CheckMetallib(s.Binary, s.Metallib)
	if err != nil {
		t.Fail(MetallibMissing, EventFailed, alert.Error, err.Error(), "metallib", p)
		return
	}
	t.Pass(MetallibMissing, EventOK, "metallib", p, "size", size)
	*ok = append(*ok, "metallib ok")
}

func checkStale(ctx context.Context, t *probe.Tick, s Settings, r *launchctl.Runner, ok *[]string) {
	sc := &StaleCheck{
		Source: s.PIDSource, PIDFile: s.PIDFile, Port: s.Port, Label: t.Common.PrimaryLabel,
		Launchctl: r, Lsof: &Lsof{Path: s.Lsof},
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	rep, err := sc.Check(cctx, s.Binary)
	attrs := []any{"pid_source", rep.Source}
	if rep.PID > 0 {
		attrs = append(attrs, "pid", rep.PID)
	}
	if rep.Exe != "" {
		attrs = append(attrs, "exe", rep.Exe)
	}
	if rep.Running.Ino != 0 {
		attrs = append(attrs, "running_inode", rep.Running.Ino)
	}
	if rep.Disk.Ino != 0 {
		attrs = append(attrs, "disk_inode", rep.Disk.Ino)
	}
	switch {
	case err == nil:
		t.Pass(StaleProcess, EventOK, attrs...)
		*ok = append(*ok, fmt.Sprintf("pid %d current", rep.PID))
	case ctx.Err() != nil:
	case errors.Is(err, ErrNotRunning):
		t.Fail(StaleProcess, EventNotRunning, alert.Warn, err.Error(), attrs...)
	case errors.Is(err, ErrStale):
		t.Fail(StaleProcess, EventFailed, alert.Error, err.Error(), attrs...)
	default:
		t.Unknown(StaleProcess, EventUnknown, err.Error(), attrs...)
	}
}

func checkManifest(ctx context.Context, t *probe.Tick, s Settings, ok *[]string) {
	if s.Manifest == "" {
		return
	}
	mc := &ManifestCheck{
		Path: s.Manifest, SigPath: s.ManifestSig, PubKey: s.ManifestPubKey,
		CachePath: filepath.Join(t.Common.StateDir, "integrity-hashcache.json"),
		FullEvery: s.FullEvery, Workers: s.HashWorkers, Now: t.Now,
	}
	start := time.Now()
	res, err := mc.Check(ctx)
	if res.CacheWarning != nil {
		t.Log.Warn("hashcache_warning", "check", ManifestInvalid, "error", res.CacheWarning.Error())
	}
	attrs := []any{"manifest", s.Manifest, "hashed", res.Hashed}
	if res.KeyFingerprint != "" {
		attrs = append(attrs, "key", res.KeyFingerprint)
	}
	if res.Hashed {
		st := res.Stats
		attrs = append(attrs, "files", res.Report.Files, "bytes", res.Report.Bytes, "cache_hits", st.Hits,
			"cache_misses", st.Misses, "bytes_hashed", st.BytesHashed, "full_pass", st.FullPass,
			"silent_changes", st.SilentChanges, "hash_ms", time.Since(start).Milliseconds())
		t.Perf("manifest_files", float64(res.Report.Files), "")
		t.Perf("manifest_bytes_hashed", float64(st.BytesHashed), "B")
	}
	switch {
	case err == nil:
		t.Pass(ManifestInvalid, EventOK, attrs...)
		*ok = append(*ok, fmt.Sprintf("%d weight files ok", res.Report.Files))
	case ctx.Err() != nil:
	case primarycheck.IsConfigError(err):
		t.Unknown(ManifestInvalid, EventUnknown, err.Error(), attrs...)
	case errors.Is(err, ErrWeightsMismatch):
		bad := res.BadFiles()
		summary := err.Error()
		if res.Stats.SilentChanges > 0 {
			summary += fmt.Sprintf(" (%d changed without their timestamps moving: tampering or disk corruption)", res.Stats.SilentChanges)
		}
		t.Fail(ManifestInvalid, EventFailed, alert.Error, summary, append(attrs, "bad_files", bad)...)
	default:
		t.Fail(ManifestInvalid, EventFailed, alert.Error, err.Error(), attrs...)
	}
}
