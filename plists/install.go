package plists

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/host/service"
)

// PlistMode is the mode of an installed plist: launchd refuses a plist
// that group or others can write, and it holds nothing secret.
const PlistMode os.FileMode = 0o644

// ErrFallbackDiffers is returned when --with-fallback finds a fallback
// plist that is not the template's: it may be the operator's own, so it is
// kept.
var ErrFallbackDiffers = errors.New("fallback plist exists and differs from the template (kept)")

// Installer renders, validates, writes and loads the probes' plists.
type Installer struct {
	// Config is resolved (Config.Resolve).
	Config Config
	// DestDir receives the probes' plists (~/Library/LaunchAgents).
	DestDir string
	// WithFallback also writes the fallback server's plist, to
	// FallbackDestDir (DestDir if empty). It is never loaded; Install
	// disables its label in launchd unless FallbackLock exists.
	WithFallback    bool
	FallbackDestDir string
	// FallbackLock is the fallback lock (the probes' --fallback-lock): while
	// it exists the fallback serves, and Install leaves launchd's disabled
	// state of the fallback alone.
	FallbackLock string
	// Secrets must appear in no rendered plist (secretscan.Read).
	Secrets []Secret
	// Lint checks a written plist file (PlutilLint); nil skips it.
	Lint func(ctx context.Context, path string) error
	// Runner runs launchctl; with Runner.DryRun it prints the commands to
	// Runner.Out instead. Files are still written in dry-run: rendering and
	// validating them is the point of a dry run on a machine without
	// launchd.
	Runner *launchctl.Runner
	// Out receives the launchctl command lines run (dry-run lines are
	// printed by Runner); Log receives progress: written, unchanged, lint.
	Out, Log io.Writer
}

// Status is what happened to one file.
type Status string

const (
	Written   Status = "written"
	Unchanged Status = "unchanged"
	ModeFixed Status = "mode fixed"
	Removed   Status = "removed"
	Missing   Status = "missing"
)

// Prepare renders every plist Install would write and validates each (and
// lints it, when Lint is set), before anything is written.
func (in *Installer) Prepare(ctx context.Context) ([]Rendered, error) {
	rs, err := in.Config.RenderProbes()
	if err != nil {
		return nil, err
	}
	if in.WithFallback {
		fb, err := in.Config.RenderFallback()
		if err != nil {
			return nil, err
		}
		rs = append(rs, fb)
	}
	var errs []error
	for _, r := range rs {
		if err := Validate(r, in.Secrets); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := in.lint(ctx, rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// lint runs Lint on each rendered plist in a scratch directory, so a file
// that fails it never reaches DestDir.
func (in *Installer) lint(ctx context.Context, rs []Rendered) error {
	if in.Lint == nil {
		return nil
	}
	dir, err := os.MkdirTemp("", "council-plists-lint-")
	if err != nil {
		return fmt.Errorf("lint: %w", err)
	}
	defer os.RemoveAll(dir)
	for _, r := range rs {
		p := filepath.Join(dir, r.Job.FileName())
		if err := os.WriteFile(p, r.Data, PlistMode); err != nil {
			return fmt.Errorf("lint: %w", err)
		}
		err := in.Lint(ctx, p)
		if errors.Is(err, ErrNoPlutil) {
			in.logf("lint: %v: skipped (the plist parser check ran)", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("lint %s: %w", r.Job.FileName(), err)
		}
	}
	in.logf("lint: plutil -lint passed for %d plists", len(rs))
	return nil
}

// Path is where r is written.
func (in *Installer) Path(r Rendered) string {
	dir := in.DestDir
	if r.Job.Fallback && in.FallbackDestDir != "" {
		dir = in.FallbackDestDir
	}
	return filepath.Join(dir, r.Job.FileName())
}

// Render prepares and writes every plist; it never runs launchctl.
func (in *Installer) Render(ctx context.Context) ([]Rendered, error) {
	rs, err := in.Prepare(ctx)
	if err != nil {
		return nil, err
	}
	return rs, in.writeAll(rs)
}

// writeAll writes every plist; a fallback plist that would be refused is
// found before anything is written.
func (in *Installer) writeAll(rs []Rendered) error {
	for _, r := range rs {
		if !r.Job.Fallback {
			continue
		}
		if old, err := atomicfile.ReadRegular(in.Path(r), service.MaxPlist); err == nil && !bytes.Equal(old, r.Data) {
			return fmt.Errorf("write %s: %w; compare it with `council-plists render --with-fallback --destdir <scratch>` and remove it to take the template", in.Path(r), ErrFallbackDiffers)
		}
	}
	for _, r := range rs {
		if err := os.MkdirAll(filepath.Dir(in.Path(r)), 0o755); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		st, err := in.write(r)
		if err != nil {
			return err
		}
		in.logf("%s %s", st, in.Path(r))
	}
	return nil
}

// Install renders, validates and writes the plists, then loads each probe
// with the Reload recipe (bootout tolerating not loaded, bootstrap with the
// "5: Input/output error" recovery, kickstart -k). It is idempotent: an
// identical file is left untouched, and reloading a loaded label takes the
// bootout-then-bootstrap path. The fallback plist is never loaded
// (bootstrapped or kickstarted); with WithFallback its label is disabled in
// launchd first (disableFallback). A probe that fails to load does not stop
// the others; the errors are joined.
func (in *Installer) Install(ctx context.Context) error {
	rs, err := in.Prepare(ctx)
	if err != nil {
		return err
	}
	if err := in.checkBinaries(); err != nil {
		return err
	}
	if err := in.ensureLogDir(); err != nil {
		return err
	}
	if err := in.writeAll(rs); err != nil {
		return err
	}
	var errs []error
	for _, r := range rs {
		if r.Job.Fallback {
			if err := in.disableFallback(ctx, r.Job.Label); err != nil {
				errs = append(errs, fmt.Errorf("install: %w", err))
			}
		}
	}
	for _, r := range rs {
		if r.Job.Fallback {
			continue
		}
		res, err := in.Runner.Reload(ctx, r.Job.Label, in.Path(r))
		if !in.Runner.DryRun && res != nil {
			for _, s := range res.Steps {
				fmt.Fprintln(in.Out, s)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("install: %w", err))
			continue
		}
		if !in.Runner.DryRun {
			in.logf("loaded %s", r.Job.Label)
		}
	}
	return errors.Join(errs...)
}

// disableFallback runs `launchctl disable gui/<uid>/<label>` for the
// fallback, before any probe is loaded (a probe could promote it): the
// plist's Disabled=true is read only at bootstrap, so a fallback label
// launchd already knows would still win the boot race; launchd's disabled
// state is the enforcement (docs/DESIGN.md section 5). The fallback is never
// bootstrapped or kickstarted here. While the fallback lock exists the
// fallback serves, and disabling it would stop KeepAlive from respawning
// the only server: then nothing is run and stderr says why. A lock that
// cannot be checked is an error and nothing is run either.
func (in *Installer) disableFallback(ctx context.Context, label string) error {
	if in.FallbackLock == "" {
		return fmt.Errorf("disable %s: no fallback lock path to check", label)
	}
	serving, err := launchctl.FallbackLockExists(in.FallbackLock)
	if err != nil {
		return fmt.Errorf("not disabling %s: %w", label, err)
	}
	if serving {
		in.logf("not loading %s and not disabling it: the fallback lock %s exists, so the fallback is serving; `council-guardian restore-primary` disables it when the primary is back", label, in.FallbackLock)
		return nil
	}
	if err := in.Runner.Disable(ctx, label); err != nil {
		return err
	}
	if !in.Runner.DryRun {
		fmt.Fprintln(in.Out, in.Runner.CommandLine("disable", in.Runner.Service(label)))
	}
	in.logf("not loading %s (it starts only when a probe promotes it); disabled in launchd: Disabled=true in its plist is read only at bootstrap", label)
	return nil
}

// Uninstall boots out each probe's label (not loaded is fine) and removes
// its plist (missing is fine). In dry-run it prints both and changes
// nothing. It never touches the fallback server's plist: that may be
// serving.
func (in *Installer) Uninstall(ctx context.Context) error {
	var errs []error
	for _, p := range in.Config.Probes {
		label := in.Config.Label(p)
		path := filepath.Join(in.DestDir, label+".plist")
		err := in.Runner.Bootout(ctx, label)
		switch {
		case launchctl.IsNotLoaded(err):
			in.logf("bootout %s: not loaded", label)
		case err != nil:
			errs = append(errs, fmt.Errorf("uninstall: %w", err))
			continue
		case !in.Runner.DryRun:
			fmt.Fprintln(in.Out, in.Runner.CommandLine("bootout", in.Runner.Service(label)))
		}
		if in.Runner.DryRun {
			fmt.Fprintf(in.Out, "dry-run: rm -f %s\n", shellQuote(path))
			continue
		}
		switch err := os.Remove(path); {
		case errors.Is(err, os.ErrNotExist):
			in.logf("%s %s", Missing, path)
		case err != nil:
			errs = append(errs, fmt.Errorf("uninstall: %w", err))
		default:
			in.logf("%s %s", Removed, path)
		}
	}
	return errors.Join(errs...)
}

// write puts r at its path atomically unless an identical file is there.
func (in *Installer) write(r Rendered) (Status, error) {
	path := in.Path(r)
	// A FIFO there is an error at once, never an open that waits.
	old, err := atomicfile.ReadRegular(path, service.MaxPlist)
	switch {
	case err == nil && bytes.Equal(old, r.Data):
		fi, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		if fi.Mode().Perm() == PlistMode {
			return Unchanged, nil
		}
		if err := os.Chmod(path, PlistMode); err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		return ModeFixed, nil
	case err == nil && r.Job.Fallback:
		return "", fmt.Errorf("write %s: %w; compare it with `council-plists render --with-fallback --destdir <scratch>` and remove it to take the template", path, ErrFallbackDiffers)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, r.Data, PlistMode); err != nil {
		return "", err
	}
	return Written, nil
}

// checkBinaries makes sure every probe's program is installed and
// executable: launchd would load the agent and fail every spawn. In
// dry-run a missing binary is only a warning.
func (in *Installer) checkBinaries() error {
	var errs []error
	for _, p := range in.Config.Probes {
		bin := in.Config.ProbeJob(p).ProgramArguments[0]
		fi, err := os.Stat(bin)
		switch {
		case err != nil:
			err = fmt.Errorf("install: %s: %w (run make install first)", p.Binary(), err)
		case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
			err = fmt.Errorf("install: %s: %s is not an executable file", p.Binary(), bin)
		}
		if err == nil {
			continue
		}
		if in.Runner.DryRun {
			in.logf("warning: %v", err)
			continue
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ensureLogDir creates the log dir (0700): launchd does not create the
// directory of StandardOutPath, and the job would fail to spawn.
func (in *Installer) ensureLogDir() error {
	dir := in.Config.LogDir
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if in.Runner.DryRun {
		fmt.Fprintf(in.Out, "dry-run: mkdir -p -m 0700 %s\n", shellQuote(dir))
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("install: log dir: %w", err)
	}
	in.logf("created %s", dir)
	return nil
}

// logf writes one progress line to Log. Not inlined: a dozen steps call
// it (the binary is held to a size budget).
//
//go:noinline
func (in *Installer) logf(format string, args ...any) {
	if in.Log != nil {
		fmt.Fprintf(in.Log, format+"\n", args...)
	}
}

// shellQuote quotes s for the printed dry-run lines, as launchctl's
// command lines are quoted.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\$`;&|<>()*?[]#~!{}") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
