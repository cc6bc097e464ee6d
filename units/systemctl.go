package units

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	coretext "github.com/sanctum/council-probes/pkg/core/text"
)

// DefaultSystemctl is the systemctl run when none is named.
const DefaultSystemctl = "systemctl"

// Systemctl runs `systemctl --user` for the installer, by argv, never
// through a shell. In dry-run mode it prints each command line to Out
// instead of running it.
type Systemctl struct {
	// Path is the systemctl binary (--systemctl).
	Path string
	// DryRun prints the commands instead of running them.
	DryRun bool
	// Out receives the dry-run lines.
	Out io.Writer
	// Exec runs path with args and returns the combined output (bounded)
	// and the exit code; err is non-nil only when the command could not
	// run or ctx ended.
	Exec func(ctx context.Context, path string, args []string) (out []byte, code int, err error)
}

// SystemctlError is a systemctl command that ran and exited non-zero.
type SystemctlError struct {
	Args   []string
	Code   int
	Output string
}

func (e *SystemctlError) Error() string {
	return fmt.Sprintf("systemctl %s: exit %d: %s", strings.Join(e.Args, " "), e.Code, coretext.Cut(coretext.Clean(e.Output), 300))
}

// Run runs `systemctl --user args...` (or prints it in dry-run) and returns
// its output.
func (s *Systemctl) Run(ctx context.Context, args ...string) ([]byte, error) {
	args = append([]string{"--user"}, args...)
	if s.DryRun {
		fmt.Fprintf(s.out(), "dry-run: %s\n", s.CommandLine(args...))
		return nil, nil
	}
	run := s.Exec
	if run == nil {
		run = ExecCommand
	}
	out, code, err := run(ctx, s.path(), args)
	if err != nil {
		return out, fmt.Errorf("systemctl %s: %w", strings.Join(args, " "), err)
	}
	if code != 0 {
		return out, &SystemctlError{Args: args, Code: code, Output: string(out)}
	}
	return out, nil
}

// CommandLine renders the argv systemctl is run with, quoting what a shell
// would split, for dry-run output.
func (s *Systemctl) CommandLine(args ...string) string {
	parts := make([]string, 0, len(args)+1)
	for _, a := range append([]string{s.path()}, args...) {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func (s *Systemctl) path() string {
	if s.Path == "" {
		return DefaultSystemctl
	}
	return s.Path
}

func (s *Systemctl) out() io.Writer {
	if s.Out == nil {
		return os.Stdout
	}
	return s.Out
}

// ExecCommand is the production Exec: os/exec, no shell, combined output
// bounded to 64 KiB, LANG=C so messages are the ones this code matches.
func ExecCommand(ctx context.Context, path string, args []string) ([]byte, int, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	cmd.WaitDelay = 5 * time.Second
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		return out.Bytes(), 0, nil
	}
	if ctx.Err() != nil {
		return out.Bytes(), -1, ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		return out.Bytes(), ee.ExitCode(), nil
	}
	return out.Bytes(), -1, err
}

// shellQuote quotes s for the printed command lines.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\$`;&|<>()*?[]#~!{}") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
