package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/host/paths"
)

// Command is the council-status command. Its side effects are fields with
// real defaults so tests can drive it in-process.
type Command struct {
	Stdout, Stderr io.Writer
	Now            func() time.Time
	// IsTerminal reports whether w is a terminal (colour, screen refresh).
	IsTerminal func(w io.Writer) bool
	// TerminalWidth is w's width in columns, 0 when w is not a terminal
	// or does not say.
	TerminalWidth func(w io.Writer) int
	// Getenv reads the environment ($COLUMNS, NO_COLOR).
	Getenv func(string) string
}

// New returns the command wired to the process's stdio and clock.
func New() *Command {
	return &Command{Stdout: os.Stdout, Stderr: os.Stderr, Now: time.Now, IsTerminal: isTerminal,
		TerminalWidth: terminalWidth, Getenv: os.Getenv}
}

// width is the screen width the table is cut to: $COLUMNS when it is a
// positive number (as ls and ps read it), else the terminal's own width,
// else DefaultWidth (a pipe, a file, cron).
func (c *Command) width() int {
	if n, err := strconv.Atoi(strings.TrimSpace(c.getenv("COLUMNS"))); err == nil && n > 0 {
		return n
	}
	if c.TerminalWidth != nil {
		if n := c.TerminalWidth(c.Stdout); n > 0 {
			return n
		}
	}
	return DefaultWidth
}

func (c *Command) getenv(k string) string {
	if c.Getenv == nil {
		return os.Getenv(k)
	}
	return c.Getenv(k)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func home() string { return string(paths.UserHome()) }

// App builds the urfave/cli application; defaults resolve against $HOME now.
func (c *Command) App() *cli.App {
	h := paths.UserHome()
	return &cli.App{
		Name:  "council-status",
		Usage: "the council probes at a glance: last result, age, open alert channels, outbox, fallback lock",
		Description: "Reads every probe's state file, outbox and log tail and prints one table. The exit code is the worst state " +
			"(0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), so council-status is itself a Nagios-style check. A probe that is stale " +
			"(last tick older than 3x its interval), never ran, or whose state cannot be read counts as UNKNOWN; alerts waiting " +
			"in a probe's outbox and an active fallback lock count as at least WARNING.",
		Flags:           flags(h),
		Writer:          c.Stdout,
		ErrWriter:       c.Stderr,
		HideHelpCommand: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w (run council-status --help for usage)", err)
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// Run runs council-status with args (os.Args) and returns its exit code.
func (c *Command) Run(args []string) int {
	app := c.App()
	app.Action = func(ctx *cli.Context) error {
		if ctx.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q (run council-status --help for usage)", ctx.Args().First())
		}
		code, err := c.run(ctx)
		if err != nil {
			return err
		}
		return exitCode(code)
	}
	err := app.Run(args)
	var code exitCode
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &code):
		return int(code)
	default:
		fmt.Fprintf(c.Stderr, "council-status: %v\n", err)
		return ExitUnknown
	}
}

func (c *Command) run(ctx *cli.Context) (int, error) {
	s, err := settingsFrom(ctx)
	if err != nil {
		return ExitUnknown, err
	}
	colour, watch := c.colour(s.Color), s.Watch
	host, _ := os.Hostname()
	cfg := Config{
		StateDir: s.StateDir, LogDir: s.LogDir, FallbackLock: s.FallbackLock,
		Probes: s.Probes, Host: host, Now: c.Now,
	}
	render := func(r Report) error {
		if s.JSON {
			return WriteJSON(c.Stdout, r)
		}
		// The width is asked each time: a --watch screen follows a resize.
		return WriteText(c.Stdout, r, TextOptions{Color: colour, Width: c.width(), Wide: s.Wide, Home: home()})
	}
	if watch == 0 {
		r := Collect(cfg)
		return r.Exit, render(r)
	}

	sctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	clear := !s.JSON && c.IsTerminal(c.Stdout)
	code := ExitUnknown
	for {
		r := Collect(cfg)
		code = r.Exit
		if clear {
			io.WriteString(c.Stdout, "\x1b[H\x1b[2J")
		}
		if err := render(r); err != nil {
			return ExitUnknown, err
		}
		select {
		case <-sctx.Done():
			return code, nil
		case <-time.After(watch):
		}
	}
}

// colour decides on ANSI colour for a --color mode (validated): always,
// never, or auto (a terminal and no NO_COLOR, https://no-color.org).
func (c *Command) colour(mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	return c.getenv("NO_COLOR") == "" && c.IsTerminal(c.Stdout)
}
