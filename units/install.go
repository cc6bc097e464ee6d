package units

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// ErrOutsideSearchPath is returned by a real (not dry-run) install or
// uninstall in a directory the user manager does not read units from:
// systemctl knows units by name, not by file.
var ErrOutsideSearchPath = errors.New("not a directory the user manager reads units from")

// maxUnitFile bounds the read of a unit file already installed: a real
// one is a few KiB.
const maxUnitFile = 1 << 20

// Installer renders, validates, writes and enables the probes' units.
type Installer struct {
	// Config is resolved (Config.Resolve).
	Config Config
	// DestDir receives the unit files (~/.config/systemd/user).
	DestDir string
	// UnitDirs are the user manager's own unit directories that DestDir
	// may be for a real install (UserUnitDirs).
	UnitDirs []string
	// Secrets must appear in no rendered unit (secretscan.Read).
	Secrets []Secret
	// Verify checks unit files with systemd's own parser (VerifyFiles);
	// nil skips it.
	Verify func(ctx context.Context, files ...string) error
	// Systemctl runs `systemctl --user`; with Systemctl.DryRun it prints
	// the commands instead. Files are still written in dry-run: rendering
	// and validating them is the point of a dry run.
	Systemctl *Systemctl
	// Out receives the systemctl command lines run (dry-run lines are
	// printed by Systemctl); Log receives progress: written, unchanged,
	// verify.
	Out, Log io.Writer
}

// UserUnitDirs are the directories of home's user unit search path that
// hold a user's own units (systemd.unit(5), "User Unit Search Path"):
// $XDG_CONFIG_HOME/systemd/user when xdgConfigHome is set, else
// ~/.config/systemd/user.
func UserUnitDirs(home, xdgConfigHome string) []string {
	if filepath.IsAbs(xdgConfigHome) {
		return []string{filepath.Join(xdgConfigHome, "systemd", "user")}
	}
	return []string{filepath.Join(home, DefaultDestDir)}
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

// Prepare renders every unit Install would write and validates each, then
// runs Verify on them all, before anything is written.
func (in *Installer) Prepare(ctx context.Context) ([]Unit, error) {
	us, err := in.Config.RenderProbes()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, u := range us {
		if err := Validate(u, in.Secrets); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := in.verify(ctx, us); err != nil {
		return nil, err
	}
	return us, nil
}

// verify runs Verify on the units in a scratch directory, so a file that
// fails it never reaches DestDir. systemd-analyze verify also checks that
// each ExecStart= program exists, so it is skipped, saying why, while the
// binaries are not installed (a dry run before `make install`).
func (in *Installer) verify(ctx context.Context, us []Unit) error {
	if in.Verify == nil {
		return nil
	}
	for _, p := range in.Config.Probes {
		if bin := in.Config.ProbeJob(p).ExecStart[0]; !isExecutable(bin) {
			in.logf("verify: skipped: %s is not installed, and systemd-analyze verify checks each program exists", bin)
			return nil
		}
	}
	dir, err := os.MkdirTemp("", "council-units-verify-")
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer os.RemoveAll(dir)
	files := make([]string, 0, len(us))
	for _, u := range us {
		p := filepath.Join(dir, u.Name)
		if err := os.WriteFile(p, u.Data, UnitMode); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		files = append(files, p)
	}
	err = in.Verify(ctx, files...)
	if errors.Is(err, ErrNoSystemdAnalyze) {
		in.logf("verify: %v: skipped (the unit parser check ran)", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	in.logf("verify: systemd-analyze --user verify passed for %d units", len(us))
	return nil
}

// Path is where u is written.
func (in *Installer) Path(u Unit) string { return filepath.Join(in.DestDir, u.Name) }

// Render prepares and writes every unit; it never runs systemctl.
func (in *Installer) Render(ctx context.Context) ([]Unit, error) {
	us, err := in.Prepare(ctx)
	if err != nil {
		return nil, err
	}
	return us, in.writeAll(us)
}

func (in *Installer) writeAll(us []Unit) error {
	if err := os.MkdirAll(in.DestDir, 0o755); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	for _, u := range us {
		st, err := in.write(u)
		if err != nil {
			return err
		}
		in.logf("%s %s", st, in.Path(u))
	}
	return nil
}

// Install renders, validates and writes the units, then runs `systemctl
// --user daemon-reload` and `systemctl --user enable --now` on each timer
// (a service is started only by its timer). It is idempotent: an identical
// file is left untouched, daemon-reload rereads what changed, and enabling
// an enabled, running timer changes nothing. A timer that fails to enable
// does not stop the others; the errors are joined.
func (in *Installer) Install(ctx context.Context) error {
	if err := in.checkDest("install into"); err != nil {
		return err
	}
	us, err := in.Prepare(ctx)
	if err != nil {
		return err
	}
	if err := in.checkBinaries(); err != nil {
		return err
	}
	if err := in.writeAll(us); err != nil {
		return err
	}
	if err := in.systemctl(ctx, "daemon-reload"); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	var errs []error
	for _, u := range us {
		if !u.IsTimer() {
			continue
		}
		if err := in.systemctl(ctx, "enable", "--now", u.Name); err != nil {
			errs = append(errs, fmt.Errorf("install: %w", err))
			continue
		}
		if !in.Systemctl.DryRun {
			in.logf("enabled and started %s", u.Name)
		}
	}
	return errors.Join(errs...)
}

// Uninstall stops and disables each probe's timer (`disable --now`, while
// its file is still there to say what to disable), removes the state file
// of a Persistent= timer (`clean --what=state`, as systemd.timer(5) asks
// before a timer is uninstalled), removes both unit files, and runs
// daemon-reload. A tick that is running is left to finish: stopping it
// could cut a remediation between two steps. A timer whose file is missing
// is not disabled (there is nothing systemd could read it from). In
// dry-run it prints every command and changes nothing.
func (in *Installer) Uninstall(ctx context.Context) error {
	if err := in.checkDest("uninstall from"); err != nil {
		return err
	}
	var errs []error
	for _, p := range in.Config.Probes {
		j := in.Config.ProbeJob(p)
		timer := filepath.Join(in.DestDir, j.Timer)
		if _, err := os.Stat(timer); errors.Is(err, os.ErrNotExist) {
			in.logf("%s %s: nothing to disable", Missing, timer)
		} else {
			if err := in.systemctl(ctx, "disable", "--now", j.Timer); err != nil {
				errs = append(errs, fmt.Errorf("uninstall: %w (its units are kept)", err))
				continue
			}
			if j.OnCalendar != "" {
				if err := in.systemctl(ctx, "clean", "--what=state", j.Timer); err != nil {
					in.logf("warning: %v: its timestamp file is left behind", err)
				}
			}
		}
		for _, name := range []string{j.Service, j.Timer} {
			path := filepath.Join(in.DestDir, name)
			if in.Systemctl.DryRun {
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
	}
	if err := in.systemctl(ctx, "daemon-reload"); err != nil {
		errs = append(errs, fmt.Errorf("uninstall: %w", err))
	}
	return errors.Join(errs...)
}

// checkDest refuses to run systemctl for units outside the user manager's
// own directory: systemctl knows units by name, and would enable (or
// disable) whatever it reads under that name elsewhere. A dry run only
// prints.
func (in *Installer) checkDest(what string) error {
	if in.Systemctl.DryRun || slices.Contains(in.UnitDirs, in.DestDir) {
		return nil
	}
	return fmt.Errorf("%s %s: %w (%v); use the default --destdir, or --dry-run (or render) to only write the files", what, in.DestDir, ErrOutsideSearchPath, in.UnitDirs)
}

// systemctl runs one `systemctl --user` command and, when it really ran,
// prints its command line to Out.
func (in *Installer) systemctl(ctx context.Context, args ...string) error {
	if _, err := in.Systemctl.Run(ctx, args...); err != nil {
		return err
	}
	if !in.Systemctl.DryRun {
		fmt.Fprintln(in.Out, in.Systemctl.CommandLine(append([]string{"--user"}, args...)...))
	}
	return nil
}

// write puts u at its path atomically unless an identical file is there.
func (in *Installer) write(u Unit) (Status, error) {
	path := in.Path(u)
	// A FIFO there is an error at once, never an open that waits.
	old, err := atomicfile.ReadRegular(path, maxUnitFile)
	switch {
	case err == nil && bytes.Equal(old, u.Data):
		fi, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		if fi.Mode().Perm() == UnitMode {
			return Unchanged, nil
		}
		if err := os.Chmod(path, UnitMode); err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		return ModeFixed, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, u.Data, UnitMode); err != nil {
		return "", err
	}
	return Written, nil
}

// checkBinaries makes sure every probe's program is installed and
// executable: systemd would start the timer and fail every tick. In
// dry-run a missing binary is only a warning.
func (in *Installer) checkBinaries() error {
	var errs []error
	for _, p := range in.Config.Probes {
		bin := in.Config.ProbeJob(p).ExecStart[0]
		if isExecutable(bin) {
			continue
		}
		err := fmt.Errorf("install: %s: %s is not an installed executable file (run make install first)", p.Binary(), bin)
		if in.Systemctl.DryRun {
			in.logf("warning: %v", err)
			continue
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
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
