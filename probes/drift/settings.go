package drift

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/hashcache"
	"github.com/sanctum/council-probes/pkg/host/paths"
)

func flags(home paths.Home) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "map", EnvVars: []string{"COUNCIL_DRIFT_MAP"}, Value: home.DriftMap(),
			Usage: "drift map `FILE`: lines of <deployed path> = <canonical path relative to --repo>"},
		&cli.StringFlag{Name: "repo", EnvVars: []string{"COUNCIL_DRIFT_REPO"}, Value: home.Repo(),
			Usage: "git repository holding the canonical copies (compared at HEAD)"},
		&cli.StringFlag{Name: "git", EnvVars: []string{"COUNCIL_GIT"}, Value: "git", Usage: "path of the git binary"},
		&cli.StringSliceFlag{Name: "expect-agent", EnvVars: []string{"COUNCIL_EXPECT_AGENTS"},
			Usage: "launchd label or systemd unit that must be loaded (repeatable); default: --primary-label and each probe's agent, <label-prefix>.council-<name> under launchd, council-<name>.timer under systemd (" + strings.Join(suite.Names(suite.Probes), ", ") + ")"},
		&cli.StringSliceFlag{Name: "watch-probe", EnvVars: []string{"COUNCIL_WATCH_PROBES"}, Value: cli.NewStringSlice(defaultWatched(suite.Probes)...),
			Usage: "`name=interval` of a probe whose state file must show a tick within 3x its interval (repeatable); set here, the interval wins over the one the probe records in its state file"},
		&cli.DurationFlag{Name: "timeout", EnvVars: []string{"COUNCIL_DRIFT_TIMEOUT"}, Value: time.Minute,
			Usage: "time limit of each group of checks (git and hashing, launchctl)"},
		&cli.StringSliceFlag{Name: "expect-server", EnvVars: []string{"COUNCIL_EXPECT_SERVER"},
			Usage: "`PATTERN` the server's version or build must match (repeatable; path.Match syntax, e.g. 0.12.*); a server that matches none is an error"},
		&cli.StringSliceFlag{Name: "expect-model-digest", EnvVars: []string{"COUNCIL_EXPECT_MODEL_DIGEST"},
			Usage: "`DIGEST` (or a prefix of 12+ hex digits) the loaded model's weights must have (repeatable); --model's, else every loaded model's"},
		&cli.DurationFlag{Name: "full-rehash", EnvVars: []string{"COUNCIL_DRIFT_FULL_REHASH"}, Value: hashcache.DefaultFullEvery,
			Usage: "re-hash every deployed file, ignoring the cache, at least this often"},
		&cli.BoolFlag{Name: "recheck-on-change", EnvVars: []string{"COUNCIL_DRIFT_RECHECK"}, Value: true,
			Usage: "when the server changes (server_changed), start the probes that judge it (" + strings.Join(suite.Names(suite.OnServerChange(suite.Probes)), ", ") + ") at once, with launchctl kickstart"},
	}
}

// settings are drift's own settings, read from its flags.
type settings struct {
	MapFile      string
	Repo         string
	Git          string
	ExpectAgents []string
	// Watched are the --watch-probe values parsed (stale.go); WatchProbe
	// the flag as given, WatchSet whether an operator gave it.
	Watched    []watchedProbe
	WatchProbe []string
	WatchSet   bool
	Timeout    time.Duration
	FullRehash time.Duration
	// ExpectServer are version/build patterns; ExpectDigests normalized
	// digest prefixes (server.go), parsed from ExpectDigestFlags.
	ExpectServer      []string
	ExpectDigests     []string
	ExpectDigestFlags []string
	// Recheck starts the OnServerChange probes when the server changes
	// (recheck.go).
	Recheck bool
}

// settingsFrom binds drift's flags from c and validates them; expected
// agents default from the layout in the tick, once it knows the service
// manager.
func settingsFrom(c *cli.Context) (settings, error) {
	s := settings{
		MapFile: c.String("map"), Repo: c.String("repo"), Git: c.String("git"),
		ExpectAgents: c.StringSlice("expect-agent"), Timeout: c.Duration("timeout"), FullRehash: c.Duration("full-rehash"),
		Recheck: c.Bool("recheck-on-change"), WatchProbe: c.StringSlice("watch-probe"), WatchSet: c.IsSet("watch-probe"),
		ExpectServer: c.StringSlice("expect-server"), ExpectDigestFlags: c.StringSlice("expect-model-digest"),
	}
	if err := s.validate(); err != nil {
		return s, err
	}
	// Parsed again now that they are known to parse.
	s.Watched, _ = parseWatched(s.WatchProbe)
	for i := range s.Watched {
		s.Watched[i].FromOperator = s.WatchSet
	}
	s.ExpectServer, _ = parseServerPatterns(s.ExpectServer)
	s.ExpectDigests, _ = parseDigests(s.ExpectDigestFlags)
	return s, nil
}

// validate reports the first bad setting: --timeout, then the lists.
func (s settings) validate() error {
	if s.Timeout <= 0 {
		return fmt.Errorf("bad --timeout %s: want a positive duration", s.Timeout)
	}
	if _, err := parseWatched(s.WatchProbe); err != nil {
		return err
	}
	if _, err := parseServerPatterns(s.ExpectServer); err != nil {
		return err
	}
	_, err := parseDigests(s.ExpectDigestFlags)
	return err
}
