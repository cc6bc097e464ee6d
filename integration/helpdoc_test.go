package integration

// The flag tables of docs/ are generated from each binary's --help, so a
// page cannot list a flag, a default or an environment variable the binary
// does not have. This file reads urfave/cli's help text and renders the
// tables; docs_test.go holds the pages to them.

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// helpFlag is one flag as --help shows it.
type helpFlag struct {
	Names   []string // "primary-label", "primary-unit": the name, then its aliases
	Usage   string
	Default string // as --help prints it ("\"~/.sanctum/state\"", "10s"); empty when none is shown
	Env     []string
}

// Name is the flag's name (its first spelling).
func (f helpFlag) Name() string { return f.Names[0] }

// helpText is a binary's --help: its flags and subcommands.
type helpText struct {
	Flags    []helpFlag
	Commands []string
}

// flagNames are every spelling of every flag in flags.
func flagNames(flags []helpFlag) []string {
	var out []string
	for _, f := range flags {
		out = append(out, f.Names...)
	}
	return out
}

var flagName = regexp.MustCompile(`--([a-z0-9][a-z0-9-]*)`)

// parseHelp reads urfave/cli v2's help text: the flags of its "GLOBAL
// OPTIONS:" or "OPTIONS:" section (without --help and --version) and the
// names of its "COMMANDS:". A flag line is the flag's spelling, two or more
// spaces, its usage, then " (default: X)" and " [$ENV, $ENV2]" when it has
// them.
func parseHelp(text string) (helpText, error) {
	var h helpText
	section := ""
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			section = ""
			continue
		case !strings.HasPrefix(line, " ") && strings.HasSuffix(trimmed, ":"):
			section = trimmed
			continue
		}
		switch section {
		case "COMMANDS:":
			name, _, _ := strings.Cut(trimmed, " ")
			h.Commands = append(h.Commands, strings.TrimSuffix(name, ","))
		case "GLOBAL OPTIONS:", "OPTIONS:":
			f, err := parseFlagLine(trimmed)
			if err != nil {
				return h, err
			}
			if f.Name() != "help" && f.Name() != "version" {
				h.Flags = append(h.Flags, f)
			}
		}
	}
	if len(h.Flags) == 0 && len(h.Commands) == 0 {
		return h, fmt.Errorf("no flags and no commands in the help text:\n%s", text)
	}
	return h, nil
}

func parseFlagLine(line string) (helpFlag, error) {
	spec, rest, ok := strings.Cut(line, "  ")
	if !ok {
		return helpFlag{}, fmt.Errorf("flag line %q: no usage after the flag", line)
	}
	var f helpFlag
	for _, m := range flagName.FindAllStringSubmatch(spec, -1) {
		if !slices.Contains(f.Names, m[1]) {
			f.Names = append(f.Names, m[1])
		}
	}
	if len(f.Names) == 0 {
		return f, fmt.Errorf("flag line %q: no --name", line)
	}
	rest = strings.TrimSpace(rest)
	if i := strings.LastIndex(rest, " [$"); i >= 0 && strings.HasSuffix(rest, "]") {
		for _, e := range strings.Split(rest[i+3:len(rest)-1], ", ") {
			f.Env = append(f.Env, strings.TrimPrefix(e, "$"))
		}
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, " (default: "); i >= 0 && strings.HasSuffix(rest, ")") {
		f.Default = rest[i+len(" (default: ") : len(rest)-1]
		rest = rest[:i]
	}
	f.Usage = rest
	return f, nil
}

// helpEnv is the environment --help runs in for the docs: HOME is "~", so
// every default under the home reads as the pages write it
// ("~/.sanctum/state"), and no COUNCIL_ variable of the machine leaks in.
func helpEnv() []string {
	return []string{"HOME=~", "PATH=" + os.Getenv("PATH")}
}

// readHelp runs bin [args] --help and parses it.
func readHelp(bin string, args ...string) (helpText, error) {
	cmd := exec.Command(bin, append(args, "--help")...)
	cmd.Env = helpEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return helpText{}, fmt.Errorf("%s %s --help: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	h, err := parseHelp(string(out))
	if err != nil {
		return h, fmt.Errorf("%s %s --help: %w", bin, strings.Join(args, " "), err)
	}
	return h, nil
}

// binaryHelp is a binary's --help and its subcommands' (name -> help).
type binaryHelp struct {
	Binary string
	Main   helpText
	Sub    map[string]helpText
}

func readBinaryHelp(name, bin string) (binaryHelp, error) {
	b := binaryHelp{Binary: name, Sub: map[string]helpText{}}
	var err error
	if b.Main, err = readHelp(bin); err != nil {
		return b, err
	}
	for _, c := range b.Main.Commands {
		if b.Sub[c], err = readHelp(bin, c); err != nil {
			return b, err
		}
	}
	return b, nil
}

// allFlagNames are every spelling the binary takes, its subcommands' too,
// and --help and --version.
func (b binaryHelp) allFlagNames() []string {
	names := append([]string{"help", "version"}, flagNames(b.Main.Flags)...)
	for _, c := range b.Main.Commands {
		names = append(names, flagNames(b.Sub[c].Flags)...)
	}
	return names
}

// machineDefaults are defaults that depend on the machine --help runs on,
// written as the pages say them.
func machineDefault(f helpFlag) string {
	if h, err := os.Hostname(); err == nil && f.Name() == "instance" && f.Default == strconv.Quote(h) {
		return "the host name"
	}
	return f.Default
}

// shownDefault is a default for a table cell: a single quoted string is
// unquoted ("~/.sanctum/state" -> ~/.sanctum/state); a list keeps its
// quotes, where a trailing space can matter.
func shownDefault(f helpFlag) string {
	d := machineDefault(f)
	if s, err := strconv.Unquote(d); err == nil {
		return s
	}
	return d
}

// probeDefault is a probe's default with the probe's own name replaced by
// <probe> where it names the probe's own file ("council-guardian.log",
// "clients/guardian.crt"), so the probes' shared flags compare equal.
func probeDefault(f helpFlag, probe string) string {
	return strings.NewReplacer("council-"+probe+".", "council-<probe>.", "/"+probe+".", "/<probe>.").Replace(shownDefault(f))
}

// code is s as a Markdown code span inside a table cell.
func code(s string) string {
	if s == "" {
		return ""
	}
	fence := "`"
	if strings.Contains(s, "`") {
		fence = "``"
		s = " " + s + " "
	}
	return fence + strings.ReplaceAll(s, "|", `\|`) + fence
}

// mdText is s as Markdown text inside a table cell: nothing in it is read as
// markup (a <prefix> is not an HTML tag, a * not emphasis, a | not a cell).
var mdText = strings.NewReplacer(`\`, `\\`, "|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`, "`", "\\`").Replace

// codes is each of ss as a code span, joined by ", ".
func codes(prefix string, ss []string) string {
	var out []string
	for _, s := range ss {
		out = append(out, code(prefix+s))
	}
	return strings.Join(out, ", ")
}

// flagTable renders flags as a Markdown table; def gives each flag's
// default cell.
func flagTable(b *strings.Builder, flags []helpFlag, def func(helpFlag) string, extra ...func(helpFlag) string) {
	b.WriteString("| flag | env | default | what |")
	if len(extra) > 0 {
		b.WriteString(" probes |")
	}
	b.WriteString("\n| --- | --- | --- | --- |")
	if len(extra) > 0 {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, f := range flags {
		fmt.Fprintf(b, "| %s | %s | %s | %s |", codes("--", f.Names), codes("", f.Env), code(def(f)), mdText(f.Usage))
		for _, e := range extra {
			fmt.Fprintf(b, " %s |", e(f))
		}
		b.WriteString("\n")
	}
}

// subcommandTables renders each subcommand's flags; subcommands with the
// same flags share one table.
func subcommandTables(b *strings.Builder, h binaryHelp) {
	done := map[string]bool{}
	for _, c := range h.Main.Commands {
		if done[c] {
			continue
		}
		same := []string{c}
		for _, o := range h.Main.Commands {
			if o != c && !done[o] && slices.EqualFunc(h.Sub[o].Flags, h.Sub[c].Flags, sameFlag) {
				same = append(same, o)
			}
		}
		var heads []string
		for _, s := range same {
			done[s] = true
			heads = append(heads, code(h.Binary+" "+s))
		}
		fmt.Fprintf(b, "\n%s:\n\n", strings.Join(heads, ", "))
		if len(h.Sub[c].Flags) == 0 {
			b.WriteString("no flags of its own.\n")
			continue
		}
		flagTable(b, h.Sub[c].Flags, shownDefault)
	}
}

func sameFlag(a, b helpFlag) bool {
	return slices.Equal(a.Names, b.Names) && a.Usage == b.Usage && a.Default == b.Default && slices.Equal(a.Env, b.Env)
}

// sharedKey identifies a probe flag across probes: a flag with the same
// spelling, usage, default (the probe's own name aside) and environment in
// two probes is one of the contract's shared flags.
func sharedKey(f helpFlag, probe string) string {
	return strings.Join([]string{strings.Join(f.Names, ","), f.Usage, probeDefault(f, probe), strings.Join(f.Env, ",")}, "\x00")
}

// probeDocs renders the generated parts of the probes' pages and of the
// shared flags' page from the probes' --help (in registry order).
type probeDocs struct {
	order  []string              // probe names
	help   map[string]binaryHelp // probe name -> its help
	shared map[string][]string   // sharedKey -> the probes that take it
}

func newProbeDocs(order []string, help map[string]binaryHelp) probeDocs {
	d := probeDocs{order: order, help: help, shared: map[string][]string{}}
	for _, p := range order {
		for _, f := range help[p].Main.Flags {
			k := sharedKey(f, p)
			d.shared[k] = append(d.shared[k], p)
		}
	}
	return d
}

// isShared: the flag is taken, alike, by more than one probe.
func (d probeDocs) isShared(f helpFlag, probe string) bool {
	return len(d.shared[sharedKey(f, probe)]) > 1
}

// probeSection is the generated flags section of docs/probes/<probe>.md:
// its own flags, the shared flags it takes (named, with a link to their
// table) and its subcommands' flags.
func (d probeDocs) probeSection(probe string) string {
	h := d.help[probe]
	var own, shared []helpFlag
	for _, f := range h.Main.Flags {
		if d.isShared(f, probe) {
			shared = append(shared, f)
		} else {
			own = append(own, f)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Its own flags (`%s --help`):\n\n", h.Binary)
	flagTable(&b, own, shownDefault)
	var names []string
	for _, f := range shared {
		names = append(names, f.Names...)
	}
	fmt.Fprintf(&b, "\nThe shared flags it takes, each with an environment variable and a default ([the table](../configuration.md#shared-flags)): %s.\n", codes("--", names))
	subcommandTables(&b, h)
	return b.String()
}

// sharedSection is the generated table of docs/configuration.md: every
// shared flag, in the order the probes list them, with the probes that
// take it.
func (d probeDocs) sharedSection() string {
	var flags []helpFlag
	owner := map[string]string{} // flag name -> a probe that takes it
	seen := map[string]bool{}
	for _, p := range d.order {
		for _, f := range d.help[p].Main.Flags {
			if k := sharedKey(f, p); d.isShared(f, p) && !seen[k] {
				seen[k] = true
				flags = append(flags, f)
				owner[f.Name()] = p
			}
		}
	}
	var b strings.Builder
	flagTable(&b, flags, func(f helpFlag) string { return probeDefault(f, owner[f.Name()]) }, func(f helpFlag) string {
		return d.takenBy(d.shared[sharedKey(f, owner[f.Name()])])
	})
	return b.String()
}

// takenBy says which probes take a shared flag: "every probe", "all but
// integrity", or their names.
func (d probeDocs) takenBy(probes []string) string {
	switch {
	case len(probes) == len(d.order):
		return "every probe"
	case len(probes) == len(d.order)-1:
		for _, p := range d.order {
			if !slices.Contains(probes, p) {
				return "all but " + p
			}
		}
	}
	return strings.Join(probes, ", ")
}

// toolSection is the generated flags section of a tool's page (council-status,
// the installers): its flags and its subcommands'.
func toolSection(h binaryHelp) string {
	var b strings.Builder
	if len(h.Main.Flags) > 0 {
		fmt.Fprintf(&b, "`%s --help`:\n\n", h.Binary)
		flagTable(&b, h.Main.Flags, shownDefault)
	}
	subcommandTables(&b, h)
	return strings.TrimPrefix(b.String(), "\n")
}

// generated finds the generated sections of a page: <!-- flags: NAME ... -->
// up to <!-- end flags -->.
var generated = regexp.MustCompile(`(?s)(<!-- flags: ([a-z-]+)[^>]*-->\n)(.*?)(<!-- end flags -->)`)

// splice replaces the generated sections of page with want (NAME ->
// content), reporting the names it found.
func splice(page string, want map[string]string) (string, []string) {
	var found []string
	out := generated.ReplaceAllStringFunc(page, func(m string) string {
		sm := generated.FindStringSubmatch(m)
		found = append(found, sm[2])
		content, ok := want[sm[2]]
		if !ok {
			return m
		}
		return sm[1] + content + sm[4]
	})
	return out, found
}
