package units

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"
	"time"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/host/secretscan"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenHome is the fixed home the goldens are rendered for.
const goldenHome = "/home/neo"

func resolved(t *testing.T, c Config) Config {
	t.Helper()
	c, err := c.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// unitSettings reads a rendered unit into "Section/Key" -> values.
func unitSettings(t *testing.T, u Unit) map[string][]string {
	t.Helper()
	ss, err := ParseUnit(u.Data)
	if err != nil {
		t.Fatalf("%s: %v\n%s", u.Name, err, u.Data)
	}
	out := map[string][]string{}
	for _, s := range ss {
		out[s.Section+"/"+s.Key] = append(out[s.Section+"/"+s.Key], s.Value)
	}
	return out
}

// comments is the text of data's comment lines, joined with single spaces.
func comments(data []byte) string {
	var words []string
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			words = append(words, strings.Fields(rest)...)
		}
	}
	return strings.Join(words, " ")
}

// needAnalyze skips where systemd-analyze cannot exist and fails where it
// should: the units are checked by systemd's own parser on every Linux
// run (.ci/run installs systemd when it is missing).
func needAnalyze(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if runtime.GOOS != "linux" {
			t.Skipf("no systemd-analyze on %s", runtime.GOOS)
		}
		t.Fatal("systemd-analyze not found: install systemd (apt-get install systemd); the units must pass systemd's own parser")
	}
	// --user mode needs a runtime directory, not a running systemd.
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
}

// binDir installs a tiny executable council-<name> per probe: systemd-analyze
// verify checks that each ExecStart= program exists.
func binDir(t *testing.T, dir string, probes []suite.Probe) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range probes {
		if err := os.WriteFile(filepath.Join(dir, p.Binary()), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeUnits writes us into dir and returns their paths.
func writeUnits(t *testing.T, dir string, us []Unit) []string {
	t.Helper()
	var files []string
	for _, u := range us {
		p := filepath.Join(dir, u.Name)
		if err := os.WriteFile(p, u.Data, UnitMode); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	return files
}

func TestRenderProbes(t *testing.T) {
	home := probetest.NewHome(t).WithToken(0o600)
	cfg := resolved(t, Config{Home: home.Dir})
	secrets, err := secretscan.Read(home.Dir)
	if err != nil || len(secrets) != 1 {
		t.Fatalf("secretscan.Read = %v, %v; want the planted token", secrets, err)
	}
	us, err := cfg.RenderProbes()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		every        string // OnUnitActiveSec
		calendar     string // OnCalendar
		onStartupSec string // "" = none
	}{
		{name: "guardian", every: "30s", onStartupSec: "30s"},
		{name: "canary", every: "10min", onStartupSec: "10min"},
		{name: "drift", every: "1h", onStartupSec: "0"},
		{name: "integrity", every: "5min", onStartupSec: "0"},
		{name: "parity-smoke", calendar: "*-*-* 03:00:00"},
		{name: "pace", every: "15min", onStartupSec: "15min"},
		{name: "context", calendar: "*-*-* 03:30:00"},
	}
	if len(us) != 2*len(tests) {
		t.Fatalf("rendered %d units, want a service and a timer for each of %d probes", len(us), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := "council-" + tt.name
			svc, tmr := us[2*i], us[2*i+1]
			if svc.Name != bin+".service" || tmr.Name != bin+".timer" {
				t.Fatalf("units %q %q, want %s.service and %s.timer", svc.Name, tmr.Name, bin, bin)
			}
			s := unitSettings(t, svc)
			if want := []string{filepath.Join(home.Dir, ".local", "bin", bin)}; !slices.Equal(s["Service/ExecStart"], want) {
				t.Errorf("ExecStart %q, want %q (no flags at defaults)", s["Service/ExecStart"], want)
			}
			if !slices.Equal(s["Service/Type"], []string{"oneshot"}) {
				t.Errorf("Type %q, want oneshot", s["Service/Type"])
			}
			for key := range s {
				if strings.Contains(key, "Environment") {
					t.Errorf("service sets %s", key)
				}
			}
			tm := unitSettings(t, tmr)
			check := func(key, want string) {
				t.Helper()
				got := tm["Timer/"+key]
				if want == "" && got != nil || want != "" && !slices.Equal(got, []string{want}) {
					t.Errorf("%s= %q, want %q", key, got, want)
				}
			}
			check("OnUnitActiveSec", tt.every)
			check("OnCalendar", tt.calendar)
			check("OnStartupSec", tt.onStartupSec)
			check("OnActiveSec", "")
			check("OnBootSec", "")
			if tt.calendar != "" {
				check("Persistent", "true")
				check("AccuracySec", "")
			} else {
				check("Persistent", "")
				check("AccuracySec", "1s")
			}
			if !slices.Equal(tm["Install/WantedBy"], []string{"timers.target"}) {
				t.Errorf("WantedBy %q, want timers.target", tm["Install/WantedBy"])
			}
			p, _ := suite.Lookup(tt.name)
			if !strings.Contains(comments(tmr.Data), strings.Join(strings.Fields(p.Why), " ")) {
				t.Errorf("the timer does not say why RunAtLoad is %t:\n%s", p.RunAtLoad, tmr.Data)
			}
			for _, u := range []Unit{svc, tmr} {
				if leaks := probetest.Leaks(home.Dir, string(u.Data)); len(leaks) > 0 {
					t.Errorf("planted token found in %s", u.Name)
				}
				if err := Validate(u, secrets); err != nil {
					t.Errorf("Validate: %v", err)
				}
			}
		})
	}
}

// TestSystemdAnalyzeVerify: every rendered unit passes systemd's own
// parser and loader, with the programs really there.
func TestSystemdAnalyzeVerify(t *testing.T) {
	needAnalyze(t)
	home := t.TempDir()
	cfg := resolved(t, Config{Home: home, BinDir: binDir(t, filepath.Join(home, "bin"), suite.Probes)})
	us, err := cfg.RenderProbes()
	if err != nil {
		t.Fatal(err)
	}
	files := writeUnits(t, t.TempDir(), us)
	if err := VerifyFiles(context.Background(), files...); err != nil {
		t.Fatal(err)
	}
	// Each probe's pair alone, so one unit's problem cannot hide behind
	// another's success.
	for i := 0; i < len(files); i += 2 {
		if err := VerifyFiles(context.Background(), files[i], files[i+1]); err != nil {
			t.Errorf("%s: %v", filepath.Base(files[i]), err)
		}
	}
}

// TestVerifyFilesCanFail: systemd-analyze verify exits 0 after a mere
// warning, so VerifyFiles must fail on its output, and on a missing
// program.
func TestVerifyFilesCanFail(t *testing.T) {
	needAnalyze(t)
	home := t.TempDir()
	cfg := resolved(t, Config{Home: home, BinDir: binDir(t, filepath.Join(home, "bin"), suite.Probes[:1])})
	svc, tmr, err := Render(cfg.ProbeJob(suite.Probes[0]))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]func(){
		"unknown setting": func() {
			tmr.Data = bytes.Replace(tmr.Data, []byte("\nAccuracySec=1s\n"), []byte("\nAccuracySec=1s\nOnUnitActiveSex=30s\n"), 1)
		},
		"bad time span": func() {
			tmr.Data = bytes.Replace(tmr.Data, []byte("\nAccuracySec=1s\n"), []byte("\nAccuracySec=soon\n"), 1)
		},
		"missing program": func() { os.Remove(filepath.Join(home, "bin", "council-guardian")) },
	}
	for _, name := range []string{"unknown setting", "bad time span", "missing program"} {
		t.Run(name, func(t *testing.T) {
			okSvc, okTmr := svc, tmr
			defer func() { svc, tmr = okSvc, okTmr }()
			tests[name]()
			files := writeUnits(t, t.TempDir(), []Unit{svc, tmr})
			if err := VerifyFiles(context.Background(), files...); !errors.Is(err, ErrInvalid) {
				t.Errorf("VerifyFiles = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestHostileValues renders for a home and a log dir full of what unit
// files treat specially: systemd-analyze must find the program at its
// real path (so the program's quoting and "%" are read back right), and
// Validate must read every argument back exactly.
func TestHostileValues(t *testing.T) {
	needAnalyze(t)
	base := t.TempDir()
	home := filepath.Join(base, `h o$me %i ;é`)
	cfg := resolved(t, Config{Home: home, LogDir: filepath.Join(base, `logs "q" 'a' \z $HOME %n ;`),
		BinDir: binDir(t, filepath.Join(home, `bin $x %%`), suite.Probes)})
	us, err := cfg.RenderProbes()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if err := Validate(u, nil); err != nil {
			t.Errorf("Validate: %v", err)
		}
		if !u.IsTimer() {
			args, err := SplitCommandLine(unitSettings(t, u)["Service/ExecStart"][0])
			if err != nil || !slices.Equal(args, u.Job.ExecStart) || len(args) != 3 {
				t.Errorf("%s: ExecStart reads back as %q (%v), want %q", u.Name, args, err, u.Job.ExecStart)
			}
		}
	}
	if err := VerifyFiles(context.Background(), writeUnits(t, t.TempDir(), us)...); err != nil {
		t.Fatal(err)
	}
}

func TestRenderRefusesUnrepresentableValues(t *testing.T) {
	for name, cfg := range map[string]Config{
		"control character in home": {Home: "/home/a\x01b"},
		"invalid UTF-8 in home":     {Home: "/home/a\xffb"},
		"quote in the program path": {Home: `/home/a"b`},
		"backslash in the program":  {Home: `/home/a\b`},
		"newline in the log dir":    {Home: "/home/a", LogDir: "/var/log/a\nExecStartPre=/bin/sh"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := resolved(t, cfg).RenderProbes()
			if !errors.Is(err, ErrUnsafeValue) {
				t.Fatalf("err = %v, want ErrUnsafeValue", err)
			}
		})
	}
}

// TestCalendarSpecs: every calendar expression passes systemd-analyze
// calendar and is already in its normalized form.
func TestCalendarSpecs(t *testing.T) {
	needAnalyze(t)
	specs := map[string]bool{Calendar(suite.TimeOfDay{Hour: 3, Minute: 30}): true, Calendar(suite.TimeOfDay{Hour: 23, Minute: 59}): true}
	for _, p := range suite.Probes {
		if p.At != nil {
			specs[Calendar(*p.At)] = true
		}
	}
	if !specs["*-*-* 03:00:00"] {
		t.Errorf("no probe runs daily at 03:00: %v", specs)
	}
	for spec := range specs {
		if err := CheckCalendar(context.Background(), spec); err != nil {
			t.Error(err)
		}
	}
	if err := CheckCalendar(context.Background(), "*-*-* 25:00:00"); !errors.Is(err, ErrInvalid) {
		t.Errorf("an impossible time: %v, want ErrInvalid", err)
	}
}

// TestTimeSpans: Span's output means to systemd what it means to Go
// (systemd-analyze timespan prints the microseconds), and ParseSpan reads
// it back.
func TestTimeSpans(t *testing.T) {
	needAnalyze(t)
	spans := []time.Duration{0, time.Second, 90 * time.Second, 1500 * time.Millisecond, 36 * time.Hour, 25*time.Hour + 61*time.Second}
	for _, p := range suite.Probes {
		spans = append(spans, p.Every)
	}
	for _, d := range spans {
		s, err := Span(d)
		if err != nil {
			t.Fatal(err)
		}
		out, code, err := analyze(context.Background(), "timespan", s)
		if err != nil || code != 0 {
			t.Fatalf("systemd-analyze timespan %q: exit %d, %v: %s", s, code, err, out)
		}
		if want := "μs: " + strconv.FormatInt(d.Microseconds(), 10) + "\n"; !strings.Contains(out, want) {
			t.Errorf("Span(%s) = %q, which systemd reads as:\n%s", d, s, out)
		}
		if back, err := ParseSpan(s); err != nil || back != d {
			t.Errorf("ParseSpan(%q) = %s, %v; want %s", s, back, err, d)
		}
	}
	for _, d := range []time.Duration{-time.Second, time.Microsecond} {
		if _, err := Span(d); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("Span(%s): %v, want ErrUnsafeValue", d, err)
		}
	}
}

// TestGolden pins every rendered unit, rendered for a fixed home. Run `go
// test -run TestGolden -update` after changing a template on purpose.
func TestGolden(t *testing.T) {
	cfg := resolved(t, Config{Home: goldenHome})
	us, err := cfg.RenderProbes()
	if err != nil {
		t.Fatal(err)
	}
	// A golden left behind by a probe no longer in the registry is a unit
	// nobody renders: it must go too.
	have, _ := filepath.Glob(filepath.Join("testdata", "council-*.golden"))
	var want []string
	for _, u := range us {
		want = append(want, filepath.Join("testdata", u.Name+".golden"))
	}
	slices.Sort(have)
	slices.Sort(want)
	if !*update && !slices.Equal(have, want) {
		t.Errorf("golden units %q, want a service and a timer per registry probe %q", have, want)
	}
	for _, u := range us {
		t.Run(u.Name, func(t *testing.T) {
			golden := filepath.Join("testdata", u.Name+".golden")
			if *update {
				if err := os.WriteFile(golden, u.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(u.Data, want) {
				t.Errorf("%s differs from the rendered unit (run with -update if intended):\n--- got\n%s", golden, u.Data)
			}
		})
	}
}

func TestNonDefaultFlags(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"defaults: no flags", Config{Home: goldenHome}, []string{"/home/neo/.local/bin/council-canary"}},
		{"bindir moves the program only", Config{Home: goldenHome, BinDir: "/usr/local/bin"}, []string{"/usr/local/bin/council-canary"}},
		{"log dir moves the JSON log", Config{Home: goldenHome, LogDir: "/var/log/council"},
			[]string{"/home/neo/.local/bin/council-canary", "--log-file", "/var/log/council/council-canary.log"}},
		{"tilde log dir at the default is still the default", Config{Home: goldenHome, LogDir: "~/.openclaw/logs"},
			[]string{"/home/neo/.local/bin/council-canary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := suite.Lookup("canary")
			svc, _, err := Render(resolved(t, tt.cfg).ProbeJob(p))
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(svc, nil); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			args, err := SplitCommandLine(unitSettings(t, svc)["Service/ExecStart"][0])
			if err != nil || !slices.Equal(args, tt.want) {
				t.Errorf("ExecStart %q (%v), want %q", args, err, tt.want)
			}
		})
	}
}

// TestEveryValueEscaped walks each template's parse tree: every {{...}}
// that prints must be a call of value, exec or span (a setting's value)
// or comment, so nothing reaches a unit file unescaped.
func TestEveryValueEscaped(t *testing.T) {
	for _, kind := range []string{"service", "timer"} {
		t.Run(kind, func(t *testing.T) {
			tmpl, err := Template(kind)
			if err != nil {
				t.Fatal(err)
			}
			if n := walkActions(t, tmpl.Tree.Root, map[string]bool{"value": true, "exec": true, "span": true}, "comment"); n < 3 {
				t.Errorf("found %d value actions, want at least 3", n)
			}
		})
	}
}

// walkActions checks that every printing action under n is a call of one
// of the one-argument escapers or of the variadic one, and counts them.
func walkActions(t *testing.T, n parse.Node, escapers map[string]bool, variadic string) int {
	t.Helper()
	count := 0
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
			if len(n.Pipe.Decl) > 0 {
				return // a variable declaration prints nothing
			}
			count++
			cmds := n.Pipe.Cmds
			escaper := ""
			if len(cmds) == 1 && len(cmds[0].Args) >= 2 {
				escaper = cmds[0].Args[0].String()
			}
			if !(escaper == variadic || escapers[escaper] && len(cmds[0].Args) == 2) {
				t.Errorf("line %d: %s is not a call of an escaper", n.Line, n)
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
	walk(n)
	return count
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

// TestNewProbe: a probe added to the registry (a hypothetical next one,
// daily or by interval) gets its service and timer from the same templates,
// with its schedule, RunAtLoad and why, and nothing else in this package
// changes; systemd accepts them.
func TestNewProbe(t *testing.T) {
	extras := []suite.Probe{
		{Name: "tokenizer", Asks: "does it still count tokens as it did", At: &suite.TimeOfDay{Hour: 4, Minute: 15},
			Network: true, Why: "one pass over a long text a day is the cost; at login the primary is still loading its weights."},
		{Name: "disk", Asks: "is there room for the next model", Every: 90 * time.Second, RunAtLoad: true,
			Why: "a full disk is found at once after a reboot, from files alone."},
	}
	for _, extra := range extras {
		t.Run(extra.Name, func(t *testing.T) {
			home := t.TempDir()
			probes := append(slices.Clone(suite.Probes), extra)
			cfg := resolved(t, Config{Home: home, BinDir: binDir(t, filepath.Join(home, "bin"), probes), Probes: probes})
			us, err := cfg.RenderProbes()
			if err != nil {
				t.Fatal(err)
			}
			if len(us) != 2*len(probes) {
				t.Fatalf("rendered %d units, want %d", len(us), 2*len(probes))
			}
			svc, tmr := us[len(us)-2], us[len(us)-1]
			for _, u := range []Unit{svc, tmr} {
				if err := Validate(u, nil); err != nil {
					t.Errorf("Validate: %v", err)
				}
			}
			if svc.Name != "council-"+extra.Name+".service" || tmr.Name != "council-"+extra.Name+".timer" {
				t.Errorf("units %q %q", svc.Name, tmr.Name)
			}
			if got := unitSettings(t, svc)["Service/ExecStart"]; !slices.Equal(got, []string{filepath.Join(home, "bin", "council-"+extra.Name)}) {
				t.Errorf("ExecStart %q", got)
			}
			tm := unitSettings(t, tmr)
			if extra.At != nil {
				if !slices.Equal(tm["Timer/OnCalendar"], []string{"*-*-* 04:15:00"}) || tm["Timer/OnUnitActiveSec"] != nil || tm["Timer/OnStartupSec"] != nil {
					t.Errorf("timer %v, want daily at 04:15 and nothing at load", tm)
				}
			} else if !slices.Equal(tm["Timer/OnUnitActiveSec"], []string{"1min 30s"}) || !slices.Equal(tm["Timer/OnStartupSec"], []string{"0"}) {
				t.Errorf("timer %v, want every 1min 30s and a tick at load", tm)
			}
			text := comments(tmr.Data)
			for _, want := range []string{"council-" + extra.Name + ": " + extra.Asks + "? " + extra.Schedule(), extra.Why} {
				if !strings.Contains(text, want) {
					t.Errorf("timer comments lack %q:\n%s", want, tmr.Data)
				}
			}
			needAnalyze(t)
			if err := VerifyFiles(context.Background(), writeUnits(t, t.TempDir(), us)...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRegistryFitsComments: every registry text goes into a comment, which
// cannot carry a backslash (a line continuation); a probe whose text could
// not is refused when rendered, not written half-valid.
func TestRegistryFitsComments(t *testing.T) {
	for _, p := range suite.Probes {
		if _, err := commentText(p.Asks, p.Why); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	bad := suite.Probe{Name: "x", Asks: "a", Every: time.Minute, Why: `never \`}
	cfg := resolved(t, Config{Home: goldenHome, Probes: []suite.Probe{bad}})
	if _, err := cfg.RenderProbes(); !errors.Is(err, ErrUnsafeValue) {
		t.Errorf("a why with a backslash: err = %v, want ErrUnsafeValue", err)
	}
}
