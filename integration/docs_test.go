package integration

// The docs are held to the tree: the README stays a front door, each probe
// of the registry has one page in one shape, every flag table is what the
// binary's --help says, every flag a page names exists, and every link
// resolves.

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated flag tables of docs/ from the binaries' --help (make docs)")

// readmeMaxLines keeps the README a front door; what does not fit goes to
// the page under docs/ where it belongs.
const readmeMaxLines = 200

func TestReadmeIsShort(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n >= readmeMaxLines {
		t.Errorf("README.md has %d lines, want under %d: move what does not fit to docs/", n, readmeMaxLines)
	}
}

// probePageHeadings are the sections of every docs/probes/<name>.md, in
// this order, so the pages read alike.
var probePageHeadings = []string{
	"What it asks",
	"Channels",
	"What it changes",
	"Exit codes",
	"The incident",
	"Flags",
}

// TestProbePagesAreTheRegistry: one page per probe of pkg/core/suite, and
// no page for a probe that does not exist.
func TestProbePagesAreTheRegistry(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "probes", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pages {
		got = append(got, strings.TrimSuffix(filepath.Base(p), ".md"))
	}
	want := suite.Names(suite.Probes)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("docs/probes/%s.md is missing: every probe of the registry has a page", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("docs/probes/%s.md describes no probe of the registry (pkg/core/suite)", g)
		}
	}
}

// TestProbePagesShape: each page is titled with the probe's binary, says
// the registry's schedule at the top and has the same sections in the same
// order.
func TestProbePagesShape(t *testing.T) {
	for _, p := range suite.Probes {
		t.Run(p.Name, func(t *testing.T) {
			data, err := os.ReadFile(probePage(p.Name))
			if err != nil {
				t.Fatal(err)
			}
			page := string(data)
			if err := checkProbePageShape(page, p); err != nil {
				t.Error(err)
			}
		})
	}
}

func probePage(name string) string { return filepath.Join(repoRoot, "docs", "probes", name+".md") }

func checkProbePageShape(page string, p suite.Probe) error {
	lines := strings.Split(page, "\n")
	if want := "# " + p.Binary(); lines[0] != want {
		return fmt.Errorf("title %q, want %q", lines[0], want)
	}
	head := strings.Join(lines[:min(len(lines), 6)], "\n")
	if !strings.Contains(head, p.Schedule()) {
		return fmt.Errorf("the top of the page does not say the registry's schedule %q:\n%s", p.Schedule(), head)
	}
	var got []string
	for _, h := range headings(page) {
		if h.level == 2 {
			got = append(got, h.text)
		}
	}
	if !slices.Equal(got, probePageHeadings) {
		return fmt.Errorf("sections %q, want %q", got, probePageHeadings)
	}
	return nil
}

// docBinaries are the binaries whose flags the docs name: the probes,
// council-status and the installers (name -> path).
func docBinaries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{"council-status": statusBin, "council-plists": plistsBin, "council-units": unitsBin}
	for _, p := range suite.Probes {
		out[p.Binary()] = bins[p.Binary()]
	}
	for name, bin := range out {
		if bin == "" {
			t.Fatalf("%s was not built", name)
		}
	}
	return out
}

func docHelp(t *testing.T) map[string]binaryHelp {
	t.Helper()
	out := map[string]binaryHelp{}
	for name, bin := range docBinaries(t) {
		h, err := readBinaryHelp(name, bin)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = h
	}
	return out
}

// generatedDocs are the generated sections each page must hold: page
// (relative to the repository) -> section name -> content.
func generatedDocs(help map[string]binaryHelp) map[string]map[string]string {
	byProbe := map[string]binaryHelp{}
	for _, p := range suite.Probes {
		byProbe[p.Name] = help[p.Binary()]
	}
	d := newProbeDocs(suite.Names(suite.Probes), byProbe)
	want := map[string]map[string]string{
		"docs/configuration.md": {"shared": d.sharedSection()},
		"docs/status.md":        {"council-status": toolSection(help["council-status"])},
		"docs/install.md": {
			"council-plists": toolSection(help["council-plists"]),
			"council-units":  toolSection(help["council-units"]),
		},
	}
	for _, p := range suite.Probes {
		want["docs/probes/"+p.Name+".md"] = map[string]string{p.Binary(): d.probeSection(p.Name)}
	}
	return want
}

// TestDocFlagTables: every flag table under docs/ is what the binaries'
// --help says today. `make docs` rewrites them.
func TestDocFlagTables(t *testing.T) {
	for page, sections := range generatedDocs(docHelp(t)) {
		file := filepath.Join(repoRoot, page)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Error(err)
			continue
		}
		got, found := splice(string(data), sections)
		for name := range sections {
			if !slices.Contains(found, name) {
				t.Errorf("%s has no generated section %q: add the lines\n<!-- flags: %s (generated from --help by make docs; do not edit) -->\n<!-- end flags -->", page, name, name)
			}
		}
		if got == string(data) {
			continue
		}
		if *updateDocs {
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote the flag tables of %s", page)
			continue
		}
		t.Errorf("%s: the flag tables differ from the binaries' --help; run make docs (go test ./integration -run TestDocFlagTables -update-docs) and review the diff:\n%s", page, firstDiff(string(data), got))
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d\n  page: %s\n  help: %s", i+1, gl, wl)
		}
	}
	return ""
}

// TestDocFlagsExist: every flag a binary's --help lists appears on its
// page, and every flag a page names (in prose, in code, in a command line)
// is one its binary has: on a probe's page the probe's own, on council-status's
// its own, elsewhere any council binary's; in a command line or a code span
// that runs a council binary, that binary's. The generated tables are
// --help itself and are not read again.
func TestDocFlagsExist(t *testing.T) {
	help := docHelp(t)
	known := map[string][]string{}
	var every []string
	for name, h := range help {
		known[name] = h.allFlagNames()
		every = append(every, known[name]...)
	}
	sim, err := readBinaryHelp("council-sim", simBin)
	if err != nil {
		t.Fatal(err)
	}
	known["council-sim"] = sim.allFlagNames()
	every = append(every, known["council-sim"]...)
	strict := map[string][]string{ // page -> the binaries whose flags must all appear on it, and the only ones it may name
		"docs/status.md":  {"council-status"},
		"docs/install.md": {"council-plists", "council-units"},
	}
	for _, p := range suite.Probes {
		strict["docs/probes/"+p.Name+".md"] = []string{p.Binary()}
	}
	for page, binaries := range strict {
		data, err := os.ReadFile(filepath.Join(repoRoot, page))
		if err != nil {
			t.Error(err)
			continue
		}
		for _, b := range binaries {
			for _, f := range known[b] {
				if f != "help" && f != "version" && !strings.Contains(string(data), "`--"+f+"`") {
					t.Errorf("%s: %s takes --%s, and the page does not name it", page, b, f)
				}
			}
		}
	}
	checked := 0
	for _, page := range markdownFiles(t) {
		if !strings.HasPrefix(page, "docs/") && page != "README.md" {
			continue
		}
		owner := every
		if strings.HasPrefix(page, "docs/probes/") || page == "docs/status.md" {
			owner = nil
			for _, b := range strict[page] {
				owner = append(owner, known[b]...)
			}
		}
		data, err := os.ReadFile(filepath.Join(repoRoot, page))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range flagMentions(string(data)) {
			checked++
			flags, who := owner, "the page's binary"
			if m.command != "" {
				var ok bool
				if flags, ok = known[m.command]; !ok {
					continue // another program's flag (systemctl --user, make, jq)
				}
				who = m.command
			}
			if slices.Contains(flags, m.flag) {
				continue
			}
			if _, ok := otherProgramFlags[m.flag]; ok && m.command == "" {
				continue // systemctl's --now, named in prose
			}
			t.Errorf("%s:%d: --%s is not a flag of %s", page, m.line, m.flag, who)
		}
	}
	if checked < 100 {
		t.Fatalf("checked %d flag mentions; the test is not reading the pages", checked)
	}
}

// otherProgramFlags are flags of other programs that the docs name in
// prose, with the program.
var otherProgramFlags = map[string]string{
	"now":             "systemctl",
	"user":            "systemctl",
	"no-ask-password": "systemctl",
	"metrics":         "llama-server",
}

// mention is a --flag a page names, and the command it is given to ("" for
// the page's own binary).
type mention struct {
	flag, command string
	line          int
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	codeSpan   = regexp.MustCompile("(`+)([^`]+?)(`+)")
	flagInText = regexp.MustCompile(`(?:^|[^-\w])--([a-z][a-z0-9-]*)`)
	envAssign  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	shellSplit = regexp.MustCompile(`\s(?:\||&&|;)\s|\$\(`)
)

// flagMentions finds the --flags of a Markdown page, outside its generated
// flag tables. In a code block each command line (with its continuation
// lines) and each command of a pipeline is attributed to the program it
// runs; so is a code span (which may run over a line break). Prose, and a
// code span or line that starts with the flag, name the page's own binary.
func flagMentions(md string) []mention {
	md = generated.ReplaceAllStringFunc(md, func(s string) string { return strings.Repeat("\n", strings.Count(s, "\n")) })
	var out []mention
	add := func(segment string, line int, command string) {
		for _, m := range flagInText.FindAllStringSubmatch(segment, -1) {
			out = append(out, mention{flag: m[1], command: command, line: line})
		}
	}
	commandLine := func(text string, line int, cont string) {
		for i, part := range shellSplit.Split(text, -1) {
			cmd := commandOf(part)
			if i == 0 && cont != "" {
				cmd = cont
			}
			add(part, line, cmd)
		}
	}
	prose := func(text string, line int) {
		rest := codeSpan.ReplaceAllStringFunc(text, func(s string) string {
			commandLine(codeSpan.FindStringSubmatch(s)[2], line, "")
			return " "
		})
		add(rest, line, "")
	}
	inFence, continued := false, ""
	para, paraLine := "", 0
	flush := func() {
		if para != "" {
			prose(para, paraLine)
		}
		para = ""
	}
	for i, line := range strings.Split(md, "\n") {
		n := i + 1
		if fence.MatchString(line) {
			flush()
			inFence, continued = !inFence, ""
			continue
		}
		if inFence {
			commandLine(line, n, continued)
			continued = ""
			if strings.HasSuffix(strings.TrimSpace(line), `\`) {
				parts := shellSplit.Split(line, -1)
				if continued = commandOf(parts[len(parts)-1]); continued == "" {
					continued = "\x00self"
				}
			}
			continue
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "|") || strings.HasPrefix(line, "#") {
			flush()
			if strings.TrimSpace(line) != "" {
				prose(line, n) // a table row or a heading is a paragraph of its own
			}
			continue
		}
		if para == "" {
			paraLine = n
			para = line
		} else {
			para += " " + line
		}
	}
	flush()
	for i := range out {
		if out[i].command == "\x00self" {
			out[i].command = ""
		}
	}
	return out
}

// commandOf is the program a command line runs: its first word after any
// VAR=value, sudo or env, as a base name (bin/council-guardian ->
// council-guardian); "" when it starts with a flag (the page's binary).
func commandOf(s string) string {
	for _, w := range strings.Fields(s) {
		switch {
		case w == "$" || w == "sudo" || w == "env" || envAssign.MatchString(w):
			continue
		case strings.HasPrefix(w, "-"):
			return ""
		}
		return path.Base(w)
	}
	return ""
}

// markdownFiles are the repository's tracked Markdown files (relative
// paths), and any not yet added under docs/ and the README.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "--cached", "--others", "--exclude-standard", "*.md").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := strings.Fields(string(out))
	if !slices.Contains(files, "README.md") {
		t.Fatalf("git ls-files found no README.md: %q", files)
	}
	return files
}

// TestMarkdownLinks: every relative link in the repository's Markdown
// files resolves to a file in the repository (not outside it: no
// ../shared), and every #anchor to a heading of the page it names.
func TestMarkdownLinks(t *testing.T) {
	files := markdownFiles(t)
	anchors := map[string][]string{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		anchors[f] = pageAnchors(string(data))
	}
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range markdownLinks(string(data)) {
			checked++
			if err := checkLink(f, l.target, anchors); err != nil {
				t.Errorf("%s:%d: link %q: %v", f, l.line, l.target, err)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d links; the test is not reading the pages", checked)
	}
}

var scheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

func checkLink(from, target string, anchors map[string][]string) error {
	if scheme.MatchString(target) {
		return nil // a web address: not checked here
	}
	file, anchor, _ := strings.Cut(target, "#")
	dest := from
	if file != "" {
		dest = path.Clean(path.Join(path.Dir(from), file))
		if dest == ".." || strings.HasPrefix(dest, "../") {
			return fmt.Errorf("leaves the repository (%s)", dest)
		}
		info, err := os.Stat(filepath.Join(repoRoot, dest))
		if err != nil {
			return fmt.Errorf("no such file in the repository: %s", dest)
		}
		if info.IsDir() && anchor != "" {
			return fmt.Errorf("an anchor into a directory")
		}
	}
	if anchor == "" {
		return nil
	}
	as, ok := anchors[dest]
	if !ok {
		return fmt.Errorf("#%s: %s is not a Markdown page of the repository", anchor, dest)
	}
	if !slices.Contains(as, anchor) {
		return fmt.Errorf("no heading #%s in %s", anchor, dest)
	}
	return nil
}

type link struct {
	target string
	line   int
}

var (
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s+<?([^\s>]+)>?`)
)

// markdownLinks finds a page's link targets outside code.
func markdownLinks(md string) []link {
	var out []link
	inFence := false
	for i, line := range strings.Split(md, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		line = codeSpan.ReplaceAllString(line, " ")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			out = append(out, link{m[1], i + 1})
		}
		if m := refDef.FindStringSubmatch(line); m != nil {
			out = append(out, link{m[1], i + 1})
		}
	}
	return out
}

type heading struct {
	level int
	text  string
}

var headingLine = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)

func headings(md string) []heading {
	var out []heading
	inFence := false
	for _, line := range strings.Split(md, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if m := headingLine.FindStringSubmatch(line); m != nil && !inFence {
			out = append(out, heading{len(m[1]), m[2]})
		}
	}
	return out
}

var htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)

// pageAnchors are the anchors GitHub gives a page's headings, and its
// explicit <a id="..."> anchors.
func pageAnchors(md string) []string {
	var out []string
	seen := map[string]int{}
	for _, h := range headings(md) {
		s := slug(h.text)
		if n := seen[s]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", s, n))
		} else {
			out = append(out, s)
		}
		seen[s]++
	}
	for _, m := range htmlAnchor.FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

var linkText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// slug is GitHub's anchor for a heading: the text of its links, lower
// case, spaces as hyphens, and nothing else but letters, digits, - and _.
func slug(text string) string {
	text = linkText.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fiveMinutes is the README section whose commands a reader runs against
// their own server.
const fiveMinutes = "Watch your own server in five minutes"

// TestReadmeFiveMinutes runs the README's "watch your own server" commands
// against the simulator in the place of the reader's server, as the reader
// would paste them: each probe ticks to the end, and the ones that need
// nothing but the server say OK.
func TestReadmeFiveMinutes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block, url, err := readmeCommands(string(data))
	if err != nil {
		t.Fatal(err)
	}
	sim := councilsim.New(councilsim.Config{PlainAddr: "127.0.0.1:0", Personality: councilsim.PersonalityConfig{Personality: councilsim.PersonalityOllama}})
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, bin := range bins {
		if err := os.Symlink(bin, filepath.Join(dir, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	var script strings.Builder
	script.WriteString("set -u\n")
	ran := 0
	for _, line := range strings.Split(block, "\n") {
		cmd, _, _ := strings.Cut(line, " | jq") // jq only trims what the probe printed
		switch {
		case strings.TrimSpace(cmd) == "make build":
			continue // the test built the binaries
		case strings.Contains(cmd, "bin/council-"):
			ran++
			fmt.Fprintf(&script, "echo '>>> %d'\n%s\necho \"<<< $?\"\n", ran, strings.ReplaceAll(cmd, url, sim.PlainURL()))
		default:
			script.WriteString(strings.ReplaceAll(cmd, url, sim.PlainURL()) + "\n")
		}
	}
	if ran < 3 {
		t.Fatalf("the README's five-minute block runs %d probes, want the guardian, the canary and pace at least:\n%s", ran, block)
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = dir
	// A Linux host whose systemd runs no unit of the reader's server (the
	// simulated systemd): the guardian finds no primary to watch for
	// crashes, and says so. mktemp's throwaway homes go under the test's.
	cmd.Env = append(os.Environ(), "FAKE_SYSTEMD_STATE="+filepath.Join(dir, "systemd.json"), "COUNCIL_SYSTEMCTL="+systemctlBin, "TMPDIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the five-minute commands: %v\n%s", err, out)
	}
	runs := readmeRuns(string(out))
	if len(runs) != ran {
		t.Fatalf("%d of %d probe commands finished:\n%s", len(runs), ran, out)
	}
	for i, r := range runs {
		if r.tickDone == nil {
			t.Errorf("command %d printed no tick_done event (exit %d):\n%s", i+1, r.exit, r.out)
			continue
		}
		if r.exit != 0 || r.tickDone["exit_code"] != 0.0 {
			t.Errorf("command %d against the simulator: exit %d, tick_done %v:\n%s", i+1, r.exit, r.tickDone, r.out)
		}
	}
}

// readmeCommands is the first sh block of the five-minute section, and the
// server URL it sets (url=...).
func readmeCommands(readme string) (block, url string, err error) {
	_, section, ok := strings.Cut(readme, "## "+fiveMinutes+"\n")
	if !ok {
		return "", "", fmt.Errorf("README.md has no section %q", fiveMinutes)
	}
	if next := strings.Index(section, "\n## "); next >= 0 {
		section = section[:next]
	}
	_, rest, ok := strings.Cut(section, "```sh\n")
	if !ok {
		return "", "", fmt.Errorf("the section %q has no sh block", fiveMinutes)
	}
	block, _, _ = strings.Cut(rest, "```")
	m := regexp.MustCompile(`(?m)^url=(\S+)`).FindStringSubmatch(block)
	if m == nil {
		return "", "", fmt.Errorf("the five-minute block sets no url=...:\n%s", block)
	}
	return block, m[1], nil
}

type readmeRun struct {
	out      string
	exit     int
	tickDone map[string]any
}

// readmeRuns splits the script's output into each probe command's events
// and exit code.
func readmeRuns(out string) []readmeRun {
	var runs []readmeRun
	var cur *readmeRun
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ">>> "):
			runs = append(runs, readmeRun{})
			cur = &runs[len(runs)-1]
		case strings.HasPrefix(line, "<<< ") && cur != nil:
			fmt.Sscan(strings.TrimPrefix(line, "<<< "), &cur.exit)
			cur = nil
		case cur != nil:
			cur.out += line + "\n"
			var ev map[string]any
			if json.Unmarshal([]byte(line), &ev) == nil && ev["event"] == "tick_done" {
				cur.tickDone = ev
			}
		}
	}
	return runs
}
