// Package drift is council-drift, the hourly probe that asks "is what runs
// what we committed, and is everything that should run loaded" (the drift
// section of docs/DESIGN.md). It reads files, git and launchd, and asks the
// server only who it is: its file and launchd checks run even when the
// transport cannot be resolved or the server is down.
//
// Each tick runs these checks, each subject on its own alert channel so a
// chronic condition can never bundle, and so silence, a real one:
//
//   - drifted:<file> (error): the SHA-256 of a deployed file differs
//     from its canonical copy as committed at HEAD of --repo. The committed
//     blob is read with `git cat-file --batch` and hashed here, so uncommitted
//     edits in the working tree never read as drift. Deployed files are hashed
//     through pkg/host/hashcache (cache file council-drift.hashcache.json in the
//     state dir, full re-hash every --full-rehash).
//   - deployed_missing:<file> (error): a mapped deployed file does not
//     exist.
//   - canonical_missing:<canonical path> (error): a canonical path is not a
//     file in HEAD.
//   - repo_dirty (info, never more): `git status --porcelain` shows
//     uncommitted changes under the canonical paths. Logged each tick; its
//     alert policy sends at most one info notice after a day of dirt, and it
//     never changes the exit code. This is incident I7 in docs/DESIGN.md:
//     hourly repo-dirty noise on the drift channel taught operators to filter
//     drift alerts.
//   - agent_not_loaded:<label> (error): an --expect-agent label is not loaded
//     in the service manager (`launchctl print`, `systemctl show`). The
//     default list is the primary and every probe of the suite's registry
//     (pkg/core/suite), <label-prefix>.council-<name>.
//   - fallback_race (error): the fallback plist (--fallback-plist, parsed as a
//     plist) must say RunAtLoad=false and Disabled=true, and `launchctl
//     print-disabled` must show --fallback-label disabled, unless the fallback
//     lock exists (then the fallback serves on purpose and launchd's state is
//     not checked). The message names the exact key or state, e.g.
//     "RunAtLoad is missing (KeepAlive=true starts it at login)" or "launchd
//     has com.sanctum.server-mlx enabled". A missing fallback plist alone is a
//     warning.
//   - server_changed (info, a notice, never a failing state): the server's
//     version or build, or the path or digest of a resident model (or of
//     --model), differs from what the previous tick recorded (state key
//     server_identity). A value the server stops reporting is not a change:
//     the last known one is kept, so an Ollama model unloaded after its
//     keep-alive and loaded again is not news. A change starts the probes
//     that judge the new server (parity-smoke, context: the registry's
//     OnServerChange) at once with `launchctl kickstart`, each logged as a
//     remediation event, at most once per change (state key
//     server_recheck; a start that failed is retried on later ticks);
//     --recheck-on-change=false turns it off (recheck.go).
//   - unexpected_server (error): --expect-server patterns are set and the
//     server's version and build match none. UNKNOWN when the backend
//     reports neither (the generic and mlx backends never do).
//   - unexpected_model (error): --expect-model-digest values are set and
//     --model's digest (else any resident model's) is not one of them.
//   - auth (UNKNOWN): the server refused drift's credentials. A server
//     that is down or hangs is the guardian's and the canary's business:
//     drift logs server_identity_skipped and leaves these channels as they
//     are.
//   - probe_stale:<name> (error): the watched probe's last completed tick
//     (LastTick in council-<name>.json in the state dir) is older than 3x its
//     interval, or it never ran. The interval is the --watch-probe one when
//     the operator set that flag (or its env var); with the built-in list,
//     the state file's interval_seconds wins, the list's value being the
//     fallback. Drift does not watch itself.
//
// <file> is the deployed path as the map's author writes it: relative to
// $HOME as "~/Library/LaunchAgents/com.sanctum.mlx.plist", absolute
// elsewhere (FileSubject). The full path and both sums are in the event's
// fields and the alert's message. State from versions that named these
// channels after the absolute path is renamed in place on the first tick
// (event channel_renamed), keeping each channel's count and cooldown.
//
// map and repo are UNKNOWN (exit 3) when the drift map or the repository
// cannot be read; the other checks still run.
//
// # The drift map
//
// --map (default ~/.sanctum/council-drift.map) lists deployed files and
// their canonical paths relative to --repo (default ~/sanctum-rs), one pair a
// line, split at the first '=':
//
//	# deployed path = canonical path in the repo
//	~/Library/LaunchAgents/com.sanctum.mlx.plist = deploy/launchd/com.sanctum.mlx.plist
//	~/bin/council-guardian.sh                    = scripts/council-guardian.sh
//	/opt/sanctum/etc/instance.yaml               = config/instance.yaml
//
// Blank lines and lines starting with '#' are ignored. A deployed path is
// absolute or starts with "~/" (expanded against $HOME); a canonical path is
// relative and stays inside the repository. A deployed path may appear only
// once; several deployed copies may share one canonical path. testdata/
// example.map is a complete example.
package drift

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/hashcache"
	"github.com/sanctum/council-probes/pkg/host/paths"
	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/probe"
)

// name is drift's name in the suite's registry (pkg/core/suite), which
// also holds its schedule.
const name = "drift"

// Default alert policies. Drift runs hourly, so one failure is enough to
// alert; a still-open channel re-alerts every six hours. repo_dirty alerts
// (at info) only after a day of consecutive dirty ticks, then daily.
var (
	defaultPolicy   = alert.Policy{Threshold: 1, Cooldown: 6 * time.Hour}
	repoDirtyPolicy = alert.Policy{Threshold: 24, Cooldown: 24 * time.Hour}
)

// New returns the council-drift probe. Flag defaults are computed from
// $HOME now.
func New() *probe.Probe {
	h := paths.UserHome()
	return &probe.Probe{
		Name:  name,
		Usage: "check that deployed files match what is committed, expected agents are loaded, the fallback cannot race and every probe still ticks",
		Description: "Compares each deployed file in the drift map with its canonical copy committed at HEAD of the repo\n" +
			"(uncommitted edits are repo_dirty, at info), checks the expected launchd agents are loaded, the\n" +
			"fallback's boot discipline, that every other probe completed a tick within 3x its interval, and\n" +
			"records the server's version and model digests (a change is news at info; --expect-server and\n" +
			"--expect-model-digest make an excluded one an error).\n" +
			"Map format, one pair a line: `<deployed path> = <canonical path relative to the repo>`.",
		Layout: true,
		// Drift asks the server only who it is; its file and launchd checks
		// run whatever the transport.
		Network:        true,
		ServerOptional: true,
		Flags:          flags(h),
		Default:        defaultPolicy,
		Policies:       map[string]alert.Policy{CheckRepoDirty: repoDirtyPolicy},
		Tick:           runTick,
	}
}

// runTick runs one drift tick.
func runTick(ctx context.Context, t *probe.Tick) error {
	cfg, err := settingsFrom(t.C)
	if err != nil {
		t.Unknown(CheckConfig, "config_error", err.Error())
		return nil
	}
	t.Clear(CheckConfig)
	// State written before file channels had short names: rename in place
	// (t.State.Channels is the alert engine's map).
	for old, short := range renameOldFileChannels(t.State.Channels, t.Common.Home) {
		t.Log.Info("channel_renamed", "from", old, "to", short)
	}
	r := &reporter{t: t, reported: map[string]bool{}}
	mgr, err := t.Manager(service.Options{})
	if err != nil {
		return err
	}
	if len(cfg.ExpectAgents) == 0 {
		cfg.ExpectAgents = defaultExpectedAgents(suite.Probes, t.Common.PrimaryLabel, t.Common.LabelPrefix, mgr.Kind())
	}

	files := r.files(ctx, cfg)
	if err := ctx.Err(); err != nil {
		return err
	}

	onFallback, _ := service.FallbackLockExists(t.Common.FallbackLock)
	actx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	agents, agentsErr := checkAgents(actx, mgr, cfg.ExpectAgents, t.Common.PrimaryLabel, onFallback)
	fallback, fallbackErr := checkFallback(actx, mgr, fallbackConfig{Label: t.Common.FallbackLabel, Plist: t.Common.FallbackPlist, Lock: t.Common.FallbackLock, Primary: t.Common.PrimaryLabel})
	cancel()
	if err := ctx.Err(); err != nil {
		// Findings made while the manager's command was being cancelled
		// say nothing about it: report none of them.
		return err
	}
	// A manager that cannot be asked is said once, on its own channel.
	t.ManagerAnswered(mgr.Kind(), errors.Join(agentsErr, fallbackErr))
	r.report(agents...)
	r.reconcile(CheckAgentNotLoaded)
	r.report(fallback)

	stale := checkStale(t.Now(), t.Common.StateDir, cfg.Watched)
	r.report(stale...)
	r.reconcile(CheckProbeStale)

	server, changes := checkServer(ctx, t, cfg)
	if err := ctx.Err(); err != nil {
		return err
	}
	recheckAfterChange(ctx, t, cfg, mgr, changes)

	jobs := "agent(s)"
	if mgr.Kind() == service.Systemd {
		jobs = "unit(s)"
	}
	t.OKSummary(fmt.Sprintf("%s; %d %s loaded; fallback disciplined; %d probe(s) ticking; %s",
		files, countPass(agents), jobs, countPass(stale), server))
	return nil
}

// reporter reports findings and remembers their channels for reconcile.
type reporter struct {
	t        *probe.Tick
	reported map[string]bool
}

func (r *reporter) report(fs ...finding) {
	for _, f := range fs {
		r.reported[f.Channel] = true
		f.report(r.t)
	}
}

func (r *reporter) reconcile(checks ...string) { reconcile(r.t, r.reported, checks...) }

func countPass(fs []finding) int {
	n := 0
	for _, f := range fs {
		if f.Outcome == outcomePass {
			n++
		}
	}
	return n
}

// files runs the file checks and repo_dirty and returns the OK summary of
// their part.
func (r *reporter) files(ctx context.Context, cfg settings) string {
	t := r.t
	entries, err := readMap(cfg.MapFile, t.Common.Home)
	if err != nil {
		t.Unknown(CheckMap, "map_error", err.Error(), "map", cfg.MapFile)
		return "drift map unreadable"
	}
	if len(entries) == 0 {
		t.Fail(CheckMap, "map_empty", alert.Warn, fmt.Sprintf("drift map %s has no entries: no file is compared", cfg.MapFile), "map", cfg.MapFile)
		r.reconcile(CheckDrifted, CheckDeployedMissing, CheckCanonicalMissing)
		return "no files mapped"
	}
	t.Clear(CheckMap)

	fctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cache, warn := hashcache.Open(filepath.Join(t.Common.StateDir, t.Probe.Binary()+".hashcache.json"),
		hashcache.Options{FullEvery: cfg.FullRehash, Now: t.Now})
	if warn != nil {
		t.Log.Warn("hashcache_reset", "error", warn.Error())
	}
	repo := &repo{Dir: cfg.Repo, Git: cfg.Git}
	rep, err := checkFiles(fctx, entries, t.Common.Home, repo, cache)
	if ctx.Err() != nil {
		// A signal cut the comparison short: a cancelled tick decides
		// nothing (runTick returns ctx.Err()), least of all "repo unreadable".
		return "cancelled"
	}
	if err != nil {
		if fctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w (after --timeout %s)", err, cfg.Timeout)
		}
		t.Unknown(CheckRepo, "repo_error", fmt.Sprintf("cannot compare with %s: %v", cfg.Repo, err), "repo", cfg.Repo)
		return "repository unreadable"
	}
	t.Clear(CheckRepo)
	r.report(rep.Findings...)
	r.reconcile(CheckDrifted, CheckDeployedMissing, CheckCanonicalMissing)
	if err := cache.Save(); err != nil {
		t.Log.Warn("hashcache_error", "error", err.Error())
	}
	t.Log.Info("hash_stats", "files", len(entries), "cache_hits", rep.Cache.Hits, "cache_misses", rep.Cache.Misses,
		"bytes_hashed", rep.Cache.BytesHashed, "full_pass", rep.Cache.FullPass, "silent_changes", rep.Cache.SilentChanges)
	t.Perf("files", float64(len(entries)), "")
	t.Perf("matching", float64(rep.Matching), "")
	t.Perf("bytes_hashed", float64(rep.Cache.BytesHashed), "B")

	// repo_dirty is information: a failure to ask is logged, never an
	// UNKNOWN that would change the exit code.
	dirty, err := checkRepoDirty(fctx, repo, entries)
	if err != nil {
		t.Log.Warn("repo_status_error", "check", CheckRepoDirty, "error", err.Error())
	} else {
		r.report(dirty)
	}
	return fmt.Sprintf("%d/%d file(s) match HEAD %s", rep.Matching, len(entries), shortID(rep.Head))
}
