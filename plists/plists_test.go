package plists

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"text/template/parse"
	"time"

	"howett.net/plist"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/secretscan"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenHome is the fixed home the goldens are rendered for.
const goldenHome = "/Users/neo"

// launchdJob is the test's own view of a rendered plist, decoded with the
// plist library independently of Validate.
type launchdJob struct {
	Label                 string            `plist:"Label"`
	ProgramArguments      []string          `plist:"ProgramArguments"`
	StartInterval         *int              `plist:"StartInterval"`
	StartCalendarInterval map[string]int    `plist:"StartCalendarInterval"`
	RunAtLoad             *bool             `plist:"RunAtLoad"`
	KeepAlive             *bool             `plist:"KeepAlive"`
	Disabled              *bool             `plist:"Disabled"`
	ProcessType           string            `plist:"ProcessType"`
	StandardOutPath       string            `plist:"StandardOutPath"`
	StandardErrorPath     string            `plist:"StandardErrorPath"`
	EnvironmentVariables  map[string]string `plist:"EnvironmentVariables"`
}

func decode(t *testing.T, data []byte) launchdJob {
	t.Helper()
	var j launchdJob
	format, err := plist.Unmarshal(data, &j)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, data)
	}
	if format != plist.XMLFormat {
		t.Fatalf("format %d, want XML", format)
	}
	return j
}

func resolved(t *testing.T, c Config) Config {
	t.Helper()
	c, err := c.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRenderProbes(t *testing.T) {
	home := probetest.NewHome(t).WithToken(0o600)
	cfg := resolved(t, Config{Home: home.Dir})
	secrets, err := secretscan.Read(home.Dir)
	if err != nil || len(secrets) != 1 {
		t.Fatalf("secretscan.Read = %v, %v; want the planted token", secrets, err)
	}
	rs, err := cfg.RenderProbes()
	if err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(home.Dir, ".openclaw", "logs")
	tests := []struct {
		name      string
		interval  int
		calendar  map[string]int
		runAtLoad bool
	}{
		{name: "guardian", interval: 30},
		{name: "canary", interval: 600},
		{name: "drift", interval: 3600, runAtLoad: true},
		{name: "integrity", interval: 300, runAtLoad: true},
		{name: "parity-smoke", calendar: map[string]int{"Hour": 3, "Minute": 0}},
		{name: "pace", interval: 900},
		{name: "context", calendar: map[string]int{"Hour": 3, "Minute": 30}},
	}
	if len(rs) != len(tests) {
		t.Fatalf("rendered %d plists, want %d", len(rs), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rs[i]
			j := decode(t, r.Data)
			bin := "council-" + tt.name
			if want := "com.sanctum." + bin; j.Label != want || r.Job.FileName() != want+".plist" {
				t.Errorf("Label %q file %q, want %q", j.Label, r.Job.FileName(), want)
			}
			if want := []string{filepath.Join(home.Dir, ".local", "bin", bin)}; !slices.Equal(j.ProgramArguments, want) {
				t.Errorf("ProgramArguments %q, want %q (no flags at defaults)", j.ProgramArguments, want)
			}
			switch {
			case tt.interval > 0 && (j.StartInterval == nil || *j.StartInterval != tt.interval):
				t.Errorf("StartInterval %v, want %d", j.StartInterval, tt.interval)
			case tt.interval == 0 && j.StartInterval != nil:
				t.Errorf("StartInterval %d, want none", *j.StartInterval)
			}
			if len(tt.calendar) > 0 || len(j.StartCalendarInterval) > 0 {
				if len(j.StartCalendarInterval) != len(tt.calendar) || j.StartCalendarInterval["Hour"] != tt.calendar["Hour"] || j.StartCalendarInterval["Minute"] != tt.calendar["Minute"] {
					t.Errorf("StartCalendarInterval %v, want %v", j.StartCalendarInterval, tt.calendar)
				}
			}
			if j.RunAtLoad == nil || *j.RunAtLoad != tt.runAtLoad {
				t.Errorf("RunAtLoad %v, want explicitly %t", j.RunAtLoad, tt.runAtLoad)
			}
			if j.KeepAlive != nil {
				t.Errorf("KeepAlive set on a one-tick probe")
			}
			if j.StandardOutPath != filepath.Join(logs, bin+".out") || j.StandardErrorPath != filepath.Join(logs, bin+".err") {
				t.Errorf("stdout/stderr %q %q, want %s.out/.err in %s", j.StandardOutPath, j.StandardErrorPath, bin, logs)
			}
			if j.StandardOutPath == home.LogFile(tt.name) || j.StandardErrorPath == home.LogFile(tt.name) {
				t.Errorf("launchd output goes to the probe's own JSON log")
			}
			if j.ProcessType != "Background" {
				t.Errorf("ProcessType %q, want Background", j.ProcessType)
			}
			if j.EnvironmentVariables != nil {
				t.Errorf("EnvironmentVariables %v, want none", j.EnvironmentVariables)
			}
			if leaks := probetest.Leaks(home.Dir, string(r.Data)); len(leaks) > 0 {
				t.Errorf("planted token found in %v", leaks)
			}
			if err := Validate(r, secrets); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestRenderFallback(t *testing.T) {
	cfg := resolved(t, Config{Home: goldenHome})
	r, err := cfg.RenderFallback()
	if err != nil {
		t.Fatal(err)
	}
	j := decode(t, r.Data)
	if j.Label != "com.sanctum.server-mlx" {
		t.Errorf("Label %q", j.Label)
	}
	for key, got := range map[string]*bool{"KeepAlive": j.KeepAlive, "RunAtLoad": j.RunAtLoad, "Disabled": j.Disabled} {
		want := key != "RunAtLoad"
		if got == nil || *got != want {
			t.Errorf("%s = %v, want explicitly %t", key, got, want)
		}
	}
	if j.StartInterval != nil || j.StartCalendarInterval != nil || j.ProcessType == "Background" {
		t.Errorf("fallback has a schedule or Background: %+v", j)
	}
	if !slices.Equal(j.ProgramArguments, DefaultFallbackProgram) {
		t.Errorf("ProgramArguments %q", j.ProgramArguments)
	}
	if err := Validate(r, nil); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestGolden pins every rendered plist, rendered for a fixed home. Run
// `go test -run TestGolden -update` after changing a template on purpose.
func TestGolden(t *testing.T) {
	cfg := resolved(t, Config{Home: goldenHome})
	rs, err := cfg.RenderProbes()
	if err != nil {
		t.Fatal(err)
	}
	fb, err := cfg.RenderFallback()
	if err != nil {
		t.Fatal(err)
	}
	// A golden left behind by a probe that is no longer in the registry is
	// a plist nobody renders: it must go too.
	have, _ := filepath.Glob(filepath.Join("testdata", "*.plist.golden"))
	var want []string
	for _, r := range append(rs, fb) {
		want = append(want, filepath.Join("testdata", r.Job.FileName()+".golden"))
	}
	slices.Sort(have)
	slices.Sort(want)
	if !*update && !slices.Equal(have, want) {
		t.Errorf("golden plists %q, want one per registry probe plus the fallback %q", have, want)
	}
	for _, r := range append(rs, fb) {
		t.Run(r.Job.Name, func(t *testing.T) {
			golden := filepath.Join("testdata", r.Job.FileName()+".golden")
			if *update {
				if err := os.WriteFile(golden, r.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(r.Data, want) {
				t.Errorf("%s differs from the rendered plist (run with -update if intended):\n--- got\n%s", golden, r.Data)
			}
		})
	}
}

func TestNonDefaultFlags(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		probe string
		want  []string
	}{
		{"defaults: no flags", Config{Home: goldenHome}, "drift", []string{"/Users/neo/.local/bin/council-drift"}},
		{"bindir moves the program only", Config{Home: goldenHome, BinDir: "/usr/local/bin"}, "guardian", []string{"/usr/local/bin/council-guardian"}},
		{"log dir moves the JSON log too", Config{Home: goldenHome, LogDir: "/var/log/council"}, "canary",
			[]string{"/Users/neo/.local/bin/council-canary", "--log-file", "/var/log/council/council-canary.log"}},
		{"tilde log dir at the default is still the default", Config{Home: goldenHome, LogDir: "~/.openclaw/logs"}, "canary",
			[]string{"/Users/neo/.local/bin/council-canary"}},
		{"label prefix goes to drift", Config{Home: goldenHome, LabelPrefix: "org.example"}, "drift",
			[]string{"/Users/neo/.local/bin/council-drift", "--label-prefix", "org.example"}},
		{"label prefix not to guardian", Config{Home: goldenHome, LabelPrefix: "org.example"}, "guardian",
			[]string{"/Users/neo/.local/bin/council-guardian"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := resolved(t, tt.cfg)
			p, _ := suite.Lookup(tt.probe)
			r, err := Render(cfg.ProbeJob(p))
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(r, nil); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			j := decode(t, r.Data)
			if !slices.Equal(j.ProgramArguments, tt.want) {
				t.Errorf("ProgramArguments %q, want %q", j.ProgramArguments, tt.want)
			}
			if want := cfg.LabelPrefix + ".council-" + tt.probe; j.Label != want {
				t.Errorf("Label %q, want %q", j.Label, want)
			}
		})
	}
}

// TestEveryValueEscaped walks each template's parse tree: every {{...}}
// that prints must be a call of xml (a value), comment (a comment's text)
// or int (a number), so no value reaches the XML raw.
func TestEveryValueEscaped(t *testing.T) {
	for _, name := range append(suite.Names(suite.Probes), "server-mlx") {
		t.Run(name, func(t *testing.T) {
			tmpl, err := Template(name)
			if err != nil {
				t.Fatal(err)
			}
			actions := 0
			var walk func(n parse.Node)
			walk = func(n parse.Node) {
				switch n := n.(type) {
				case *parse.ListNode:
					if n == nil {
						return
					}
					for _, c := range n.Nodes {
						walk(c)
					}
				case *parse.ActionNode:
					actions++
					cmds := n.Pipe.Cmds
					escaper := ""
					if len(cmds) == 1 && len(cmds[0].Args) >= 2 {
						escaper = cmds[0].Args[0].String()
					}
					switch {
					case escaper == "comment":
					case (escaper == "xml" || escaper == "int") && len(cmds[0].Args) == 2:
					default:
						t.Errorf("line %d: %s is not {{xml <value>}}, {{int <number>}} or {{comment ...}}", n.Line, n)
					}
				case *parse.RangeNode:
					walk(n.List)
					walk(n.ElseList)
				case *parse.IfNode:
					walk(n.List)
					walk(n.ElseList)
				case *parse.WithNode:
					walk(n.List)
					walk(n.ElseList)
				case *parse.TextNode, *parse.CommentNode:
				default:
					t.Errorf("unexpected template node %T %s", n, n)
				}
			}
			walk(tmpl.Tree.Root)
			if actions < 4 { // label, program args, stdout, stderr
				t.Errorf("found %d value actions, want at least 4", actions)
			}
		})
	}
}

// TestHostileValuesRoundTrip renders paths full of XML metacharacters: the
// plist must still parse and read back exactly what went in.
func TestHostileValuesRoundTrip(t *testing.T) {
	home := `/Users/a&b <c> "d" 'e' ]]> <!--`
	cfg := resolved(t, Config{Home: home, LogDir: home + "/logs & <more>"})
	rs, err := cfg.RenderProbes()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if err := Validate(r, nil); err != nil {
			t.Errorf("Validate: %v", err)
		}
		j := decode(t, r.Data)
		if !slices.Equal(j.ProgramArguments, r.Job.ProgramArguments) || j.StandardOutPath != r.Job.StandardOutPath {
			t.Errorf("%s: read back %q %q, want %q %q", r.Job.Name, j.ProgramArguments, j.StandardOutPath, r.Job.ProgramArguments, r.Job.StandardOutPath)
		}
	}
}

func TestRenderRefusesUnrepresentableValues(t *testing.T) {
	for name, home := range map[string]string{"control character": "/Users/a\x01b", "invalid UTF-8": "/Users/a\xffb"} {
		t.Run(name, func(t *testing.T) {
			cfg := resolved(t, Config{Home: home})
			_, err := cfg.RenderProbes()
			if !errors.Is(err, ErrUnsafeValue) {
				t.Fatalf("err = %v, want ErrUnsafeValue", err)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
		bin     string
	}{
		{"defaults", Config{Home: "/h"}, false, "/h/.local/bin"},
		{"tilde", Config{Home: "/h", BinDir: "~/bin"}, false, "/h/bin"},
		{"absolute", Config{Home: "/h", BinDir: "/usr/local/bin/"}, false, "/usr/local/bin"},
		{"relative bindir", Config{Home: "/h", BinDir: "bin"}, true, ""},
		{"no home", Config{}, true, ""},
		{"relative home", Config{Home: "h"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.cfg.Resolve()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tt.wantErr)
			}
			if err == nil && c.BinDir != tt.bin {
				t.Errorf("BinDir %q, want %q", c.BinDir, tt.bin)
			}
		})
	}
}

// TestSeventhProbe: a probe added to the registry gets its plist from the
// one template, with its schedule, RunAtLoad and why, and nothing else in
// this package changes.
func TestSeventhProbe(t *testing.T) {
	extra := suite.Probe{
		Name: "context", Asks: "is the context window what we think it is", At: &suite.TimeOfDay{Hour: 3, Minute: 30},
		Network: true, Why: "one long prefill a day is the cost; at login the primary is still loading its weights.",
	}
	cfg := resolved(t, Config{Home: goldenHome, Probes: append(slices.Clone(suite.Probes), extra)})
	rs, err := cfg.RenderProbes()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(suite.Probes)+1 {
		t.Fatalf("rendered %d plists, want %d", len(rs), len(suite.Probes)+1)
	}
	r := rs[len(rs)-1]
	if err := Validate(r, nil); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	j := decode(t, r.Data)
	if j.Label != "com.sanctum.council-context" || j.ProgramArguments[0] != "/Users/neo/.local/bin/council-context" {
		t.Errorf("label %q, program %q", j.Label, j.ProgramArguments)
	}
	if j.StartCalendarInterval["Hour"] != 3 || j.StartCalendarInterval["Minute"] != 30 || j.StartInterval != nil {
		t.Errorf("schedule %v / %v, want daily at 03:30", j.StartCalendarInterval, j.StartInterval)
	}
	for _, want := range []string{"council-context: is the context window what we think it is? daily at 03:30", "one long prefill a day"} {
		if !bytes.Contains(bytes.Join(bytes.Fields(r.Data), []byte(" ")), []byte(want)) {
			t.Errorf("plist comments lack %q:\n%s", want, r.Data)
		}
	}
}

// TestRegistryFitsComments: every registry text goes into an XML comment,
// which cannot carry "--"; a probe whose text could not is refused when
// rendered, not written half-valid.
func TestRegistryFitsComments(t *testing.T) {
	for _, p := range suite.Probes {
		if _, err := commentText(p.Why); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	bad := suite.Probe{Name: "x", Asks: "a", Every: time.Minute, Why: "never -- ever"}
	cfg := resolved(t, Config{Home: goldenHome, Probes: []suite.Probe{bad}})
	if _, err := cfg.RenderProbes(); !errors.Is(err, ErrUnsafeValue) {
		t.Errorf("a why with \"--\": err = %v, want ErrUnsafeValue", err)
	}
}
