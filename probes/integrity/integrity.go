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
// those two checks promote the fallback server (the service manager's
// PromoteFallback, under the shared remediation lock, never from the
// fallback). The other three are fixed by a rebuild or a restart and only
// alert.
//
// Under systemd (a Linux host) the Metal library and codesign do not
// apply: they are shown as not applicable (event check_not_applicable),
// never as failures; an Ed25519 signature (--signing-pubkey) is checked
// as anywhere. The running process is the unit's MainPID.
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
	"slices"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/host/primarycheck"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
)

// The checks, each its own alert channel.
const (
	CheckBinaryMissing    = "binary_missing"
	CheckSignatureInvalid = "signature_invalid"
	CheckMetallibMissing  = "metallib_missing"
	CheckStaleProcess     = "stale_process"
	CheckManifestInvalid  = "manifest_invalid"
)

// Events the checks log besides the probe contract's.
const (
	eventOK         = "check_ok"
	eventFailed     = "check_failed"
	eventUnknown    = "check_unknown"
	eventSkipped    = "check_skipped"
	eventNotApplies = "check_not_applicable"
	eventNotRunning = "not_running"
)

// commandTimeout bounds each external command (codesign, lsof, the service
// manager's status) so a wedged tool cannot hold the tick.
const commandTimeout = 30 * time.Second

// New returns the council-integrity probe.
func New() *probe.Probe {
	return &probe.Probe{
		Name:   "integrity",
		Usage:  "check that the next respawn of the primary council server will work",
		Layout: true,
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

func tick(ctx context.Context, t *probe.Tick) error {
	s, err := settingsFrom(t.C)
	if err != nil {
		return err
	}
	r, err := t.Manager(service.Options{VerifyTimeout: s.VerifyTimeout})
	if err != nil {
		return err
	}
	// Each check reports on its own channel and returns what the OK
	// summary says of it ("" when it did not pass).
	var ok []string
	note, present := checkBinary(t, s)
	ok = append(ok, note)
	if present {
		ok = append(ok, checkSignature(ctx, t, s))
	} else {
		// There is nothing to verify: one cause, one alert (binary_missing).
		// The signature channel is left as it was, neither failed nor passed.
		t.Log.Info(eventSkipped, "check", CheckSignatureInvalid, "reason", "the binary is missing; reported on "+CheckBinaryMissing)
	}
	ok = append(ok, checkMetallib(t, s), checkStale(ctx, t, s, r), checkManifest(ctx, t, s))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	remediate(ctx, t, s, r)
	t.OKSummary(strings.Join(slices.DeleteFunc(ok, func(n string) bool { return n == "" }), "; "))
	return nil
}

// checkBinary reports binary_missing and returns its OK note and whether a
// file is there at all (a present but non-executable binary can still have
// its signature checked).
func checkBinary(t *probe.Tick, s settings) (note string, present bool) {
	info, err := primarycheck.CheckBinary(s.Binary, primarycheck.CurrentIdentity())
	attrs := []any{"binary", s.Binary}
	if info.Mode != 0 {
		attrs = append(attrs, "mode", fmt.Sprintf("%04o", info.Mode.Perm()), "uid", info.Owner.UID, "size", info.Size)
	}
	if err != nil {
		t.Fail(CheckBinaryMissing, eventFailed, alert.Error, err.Error(), attrs...)
		return "", primarycheck.Present(s.Binary)
	}
	t.Pass(CheckBinaryMissing, eventOK, append(attrs, "inode", info.Inode)...)
	return "binary ok", true
}

func checkSignature(ctx context.Context, t *probe.Tick, s settings) (note string) {
	v, skip := primarycheck.PlatformVerifier(s.Signature)
	if v == nil && !s.Mac && s.Signature.PubKey == "" {
		t.Log.Info(eventNotApplies, "check", CheckSignatureInvalid,
			"reason", "codesign is macOS's; on Linux set --signing-pubkey to check an Ed25519 signature instead")
		return "code signature n/a on Linux"
	}
	if v == nil {
		t.Log.Info(eventSkipped, "check", CheckSignatureInvalid, "reason", skip)
		return "signature skipped (no key)"
	}
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	err := v.Verify(cctx, s.Binary)
	attrs := []any{"binary", s.Binary, "method", v.Describe()}
	switch {
	case err == nil:
		t.Pass(CheckSignatureInvalid, eventOK, attrs...)
		return "signature ok"
	case ctx.Err() != nil:
	case primarycheck.IsConfigError(err):
		t.Unknown(CheckSignatureInvalid, eventUnknown, err.Error(), attrs...)
	default:
		t.Fail(CheckSignatureInvalid, eventFailed, alert.Error, err.Error(), attrs...)
	}
	return ""
}

func checkMetallib(t *probe.Tick, s settings) (note string) {
	if !s.Mac {
		t.Log.Info(eventNotApplies, "check", CheckMetallibMissing, "reason", "the Metal shader library is macOS's; a Linux server has none")
		return "metallib n/a on Linux"
	}
	p := primarycheck.MetallibPath(s.Binary, s.Metallib)
	size, err := primarycheck.CheckMetallib(s.Binary, s.Metallib)
	if err != nil {
		t.Fail(CheckMetallibMissing, eventFailed, alert.Error, err.Error(), "metallib", p)
		return ""
	}
	t.Pass(CheckMetallibMissing, eventOK, "metallib", p, "size", size)
	return "metallib ok"
}

func checkStale(ctx context.Context, t *probe.Tick, s settings, r service.Manager) (note string) {
	sc := &staleCheck{
		Source: s.PIDSource, PIDFile: s.PIDFile, Port: s.Port, Label: t.Common.PrimaryLabel,
		Manager: r, Lsof: &lsof{Path: s.Lsof},
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
		t.Pass(CheckStaleProcess, eventOK, attrs...)
		return fmt.Sprintf("pid %d current", rep.PID)
	case ctx.Err() != nil:
	case !t.ManagerAnswered(r.Kind(), err):
		// The manager cannot say which process runs: not judged.
		t.Log.Info("not_judged", append(attrs, "check", CheckStaleProcess, "reason", "the service manager cannot be asked (service_manager)")...)
	case errors.Is(err, errNotRunning):
		t.Fail(CheckStaleProcess, eventNotRunning, alert.Warn, err.Error(), attrs...)
	case errors.Is(err, errStale):
		t.Fail(CheckStaleProcess, eventFailed, alert.Error, err.Error(), attrs...)
	default:
		t.Unknown(CheckStaleProcess, eventUnknown, err.Error(), attrs...)
	}
	return ""
}

func checkManifest(ctx context.Context, t *probe.Tick, s settings) (note string) {
	if s.Manifest == "" {
		return ""
	}
	mc := &manifestCheck{
		Path: s.Manifest, SigPath: s.ManifestSig, PubKey: s.ManifestPubKey,
		CachePath: filepath.Join(t.Common.StateDir, "integrity-hashcache.json"),
		FullEvery: s.FullEvery, Workers: s.HashWorkers, Now: t.Now,
	}
	start := time.Now()
	res, err := mc.Check(ctx)
	if res.CacheWarning != nil {
		t.Log.Warn("hashcache_warning", "check", CheckManifestInvalid, "error", res.CacheWarning.Error())
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
		t.Pass(CheckManifestInvalid, eventOK, attrs...)
		return fmt.Sprintf("%d weight files ok", res.Report.Files)
	case ctx.Err() != nil:
	case primarycheck.IsConfigError(err):
		t.Unknown(CheckManifestInvalid, eventUnknown, err.Error(), attrs...)
	case errors.Is(err, errWeightsMismatch):
		bad := res.BadFiles()
		summary := err.Error()
		if res.Stats.SilentChanges > 0 {
			summary += fmt.Sprintf(" (%d changed without their timestamps moving: tampering or disk corruption)", res.Stats.SilentChanges)
		}
		t.Fail(CheckManifestInvalid, eventFailed, alert.Error, summary, append(attrs, "bad_files", bad)...)
	default:
		t.Fail(CheckManifestInvalid, eventFailed, alert.Error, err.Error(), attrs...)
	}
	return ""
}
