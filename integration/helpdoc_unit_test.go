package integration

import (
	"slices"
	"strings"
	"testing"
)

// A help text as urfave/cli v2 prints it: aliases, a repeatable flag, a
// placeholder, a default with parentheses, a flag without a default or an
// environment variable, a subcommand.
const sampleHelp = `NAME:
   council-x - one probe

USAGE:
   council-x [global options] command [command options]

COMMANDS:
   restore-primary  operator: switch back

GLOBAL OPTIONS:
   --config key = value                         optional shared config file (key = value lines; [probe] sections) (default: "~/.sanctum/council-probes.conf") [$COUNCIL_CONFIG]
   --primary-label value, --primary-unit value  launchd label, or systemd unit (default: "com.sanctum.mlx") [$COUNCIL_PRIMARY_LABEL, $COUNCIL_PRIMARY_UNIT]
   --busy-ignore value [ --busy-ignore value ]  lines containing this (default: "path=/v1/models", "path=/health ") [$COUNCIL_X_BUSY_IGNORE]
   --expect value                               regexp (default: "(?:^|[^\\pL])4(?:$|[^\\pL])") [$COUNCIL_X_EXPECT]
   --map FILE                                   drift map FILE: lines of <deployed path> = <canonical path> [$COUNCIL_X_MAP]
   --with-fallback                              also write the fallback's plist (default: false)
   --transport value                            auto|mtls|bearer: auto uses mTLS (default: "auto") [$COUNCIL_TRANSPORT]
   --help, -h                                   show help
   --version, -v                                print the version
`

func TestParseHelp(t *testing.T) {
	h, err := parseHelp(sampleHelp)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.Commands, []string{"restore-primary"}) {
		t.Errorf("commands %q", h.Commands)
	}
	want := []helpFlag{
		{Names: []string{"config"}, Usage: "optional shared config file (key = value lines; [probe] sections)", Default: `"~/.sanctum/council-probes.conf"`, Env: []string{"COUNCIL_CONFIG"}},
		{Names: []string{"primary-label", "primary-unit"}, Usage: "launchd label, or systemd unit", Default: `"com.sanctum.mlx"`, Env: []string{"COUNCIL_PRIMARY_LABEL", "COUNCIL_PRIMARY_UNIT"}},
		{Names: []string{"busy-ignore"}, Usage: "lines containing this", Default: `"path=/v1/models", "path=/health "`, Env: []string{"COUNCIL_X_BUSY_IGNORE"}},
		{Names: []string{"expect"}, Usage: "regexp", Default: `"(?:^|[^\\pL])4(?:$|[^\\pL])"`, Env: []string{"COUNCIL_X_EXPECT"}},
		{Names: []string{"map"}, Usage: "drift map FILE: lines of <deployed path> = <canonical path>", Env: []string{"COUNCIL_X_MAP"}},
		{Names: []string{"with-fallback"}, Usage: "also write the fallback's plist", Default: "false"},
		{Names: []string{"transport"}, Usage: "auto|mtls|bearer: auto uses mTLS", Default: `"auto"`, Env: []string{"COUNCIL_TRANSPORT"}},
	}
	if !slices.EqualFunc(h.Flags, want, sameFlag) {
		t.Errorf("flags\n%+v\nwant\n%+v", h.Flags, want)
	}
	if _, err := parseHelp("NAME:\n   council-x - nothing\n"); err == nil {
		t.Error("a help text without flags or commands parsed")
	}
}

func TestFlagTableCells(t *testing.T) {
	h, err := parseHelp(sampleHelp)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	flagTable(&b, h.Flags, shownDefault)
	for _, want := range []string{
		"| `--config` | `COUNCIL_CONFIG` | `~/.sanctum/council-probes.conf` | optional shared config file (key = value lines; [probe] sections) |",
		"| `--primary-label`, `--primary-unit` | `COUNCIL_PRIMARY_LABEL`, `COUNCIL_PRIMARY_UNIT` | `com.sanctum.mlx` |",
		"| `--busy-ignore` | `COUNCIL_X_BUSY_IGNORE` | `\"path=/v1/models\", \"path=/health \"` |",
		"`(?:^\\|[^\\pL])4(?:$\\|[^\\pL])`", // unquoted once; a | does not end the cell
		"drift map FILE: lines of &lt;deployed path&gt; = &lt;canonical path&gt; |",
		"| `--with-fallback` |  | `false` |",
		"| auto\\|mtls\\|bearer: auto uses mTLS |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the table lacks %s\n%s", want, b.String())
		}
	}
}

func TestSharedFlags(t *testing.T) {
	mk := func(flags ...helpFlag) binaryHelp { return binaryHelp{Main: helpText{Flags: flags}} }
	state := helpFlag{Names: []string{"state-dir"}, Usage: "state", Default: `"~/.sanctum/state"`}
	log := func(p string) helpFlag {
		return helpFlag{Names: []string{"log-file"}, Usage: "log", Default: `"~/.openclaw/logs/council-` + p + `.log"`}
	}
	own := helpFlag{Names: []string{"timeout"}, Usage: "budget", Default: "10s"}
	d := newProbeDocs([]string{"a", "b", "c"}, map[string]binaryHelp{
		"a": mk(state, log("a"), own),
		"b": mk(state, log("b")),
		"c": mk(log("c")),
	})
	if !d.isShared(log("b"), "b") || !d.isShared(state, "a") || d.isShared(own, "a") {
		t.Errorf("shared: log-file %t, state-dir %t, timeout %t", d.isShared(log("b"), "b"), d.isShared(state, "a"), d.isShared(own, "a"))
	}
	got := d.sharedSection()
	for _, want := range []string{"`~/.openclaw/logs/council-<probe>.log` | log | every probe |", "`~/.sanctum/state` | state | all but c |"} {
		if !strings.Contains(got, want) {
			t.Errorf("shared table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "timeout") {
		t.Errorf("a probe's own flag is in the shared table:\n%s", got)
	}
}

func TestSplice(t *testing.T) {
	page := "# p\n\n<!-- flags: council-x (generated) -->\nold\n<!-- end flags -->\ntail\n"
	got, found := splice(page, map[string]string{"council-x": "new\n"})
	if want := "# p\n\n<!-- flags: council-x (generated) -->\nnew\n<!-- end flags -->\ntail\n"; got != want || !slices.Equal(found, []string{"council-x"}) {
		t.Errorf("splice = %q, %q", got, found)
	}
}
