package units

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/host/secretscan"
)

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid unit")

// ErrNoSystemdAnalyze is returned by VerifyFiles and CheckCalendar where
// systemd-analyze does not exist (macOS, a container without systemd).
var ErrNoSystemdAnalyze = errors.New("systemd-analyze not found on PATH")

// Secret is a value that must appear in no rendered file
// (secretscan.Read finds the bearer token's).
type Secret = secretscan.Secret

// Setting is one key=value line of a unit file.
type Setting struct {
	Section, Key, Value string
	Line                int
}

// ParseUnit reads a unit file the way systemd.syntax(7) describes it:
// "[Section]" headers, "Key=Value" lines with the space around "=" and at
// the ends dropped, "#" and ";" comment lines. A line continued with a
// trailing backslash is refused (no rendered unit has one), as is a setting
// outside a section.
func ParseUnit(data []byte) ([]Setting, error) {
	var out []Setting
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case strings.HasSuffix(line, `\`):
			return nil, fmt.Errorf("line %d: continued with a backslash", n)
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("line %d: bad section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: not key=value: %q", n, line)
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: %q before any section", n, line)
		}
		out = append(out, Setting{Section: section, Key: strings.TrimSpace(key), Value: strings.TrimSpace(value), Line: n})
	}
	return out, sc.Err()
}

// SplitCommandLine splits an ExecStart= value into its argv the way
// systemd does (systemd.syntax(7), "Quoting"; systemd.service(5), "Command
// lines"): words split at unquoted space, double and single quotes, C
// escapes, "%%" for "%", and "$$" for "$" except in the program's path,
// which is not variable-expanded. It returns an error for what it does not
// expect in a rendered unit: an unknown escape, an unbalanced quote, a lone
// "%" or "$" (a specifier or a variable).
func SplitCommandLine(s string) ([]string, error) {
	var args []string
	rs := []rune(s)
	for i := 0; i < len(rs); {
		if rs[i] == ' ' || rs[i] == '\t' {
			i++
			continue
		}
		var w strings.Builder
		var quote rune
		for ; i < len(rs); i++ {
			r := rs[i]
			switch {
			case quote == 0 && (r == ' ' || r == '\t'):
				goto word
			case quote == 0 && (r == '"' || r == '\'') && w.Len() == 0:
				quote = r
				continue
			case quote != 0 && r == quote:
				if i+1 < len(rs) && rs[i+1] != ' ' && rs[i+1] != '\t' {
					return nil, fmt.Errorf("split %q: closing quote not followed by a space", s)
				}
				quote = 0
				i++
				goto word
			case r == '\\':
				if i+1 >= len(rs) {
					return nil, fmt.Errorf("split %q: trailing backslash", s)
				}
				i++
				e, ok := map[rune]rune{'\\': '\\', '"': '"', '\'': '\'', 'n': '\n', 't': '\t', 's': ' '}[rs[i]]
				if !ok {
					return nil, fmt.Errorf("split %q: escape \\%c", s, rs[i])
				}
				w.WriteRune(e)
				continue
			}
			w.WriteRune(r)
		}
		if quote != 0 {
			return nil, fmt.Errorf("split %q: unbalanced quote", s)
		}
	word:
		a, err := unescapeWord(w.String(), len(args) > 0)
		if err != nil {
			return nil, fmt.Errorf("split %q: %w", s, err)
		}
		args = append(args, a)
	}
	return args, nil
}

// unescapeWord turns "%%" into "%" and, in an argument (not the program),
// "$$" into "$"; any other "%" or "$" is refused.
func unescapeWord(w string, isArg bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case c == '%' && i+1 < len(w) && w[i+1] == '%':
			i++
		case c == '%':
			return "", fmt.Errorf("specifier %q", w[i:min(i+2, len(w))])
		case c == '$' && isArg && i+1 < len(w) && w[i+1] == '$':
			i++
		case c == '$' && isArg:
			return "", fmt.Errorf("variable in %q", w)
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// ParseSpan reads a systemd time span (systemd.time(7)) as Span writes it
// and as people do: "0", "30", "30s", "10min", "1h 30min", "2min 200ms".
func ParseSpan(s string) (time.Duration, error) {
	units := map[string]time.Duration{
		"us": time.Microsecond, "usec": time.Microsecond, "ms": time.Millisecond, "msec": time.Millisecond,
		"": time.Second, "s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"min": time.Minute, "minute": time.Minute, "minutes": time.Minute, "m": time.Minute,
		"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
		"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour, "w": 7 * 24 * time.Hour,
	}
	var total time.Duration
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, fmt.Errorf("time span %q: empty", s)
	}
	for rest != "" {
		i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if i == 0 {
			return 0, fmt.Errorf("time span %q: no number before %q", s, rest)
		}
		if i < 0 {
			i = len(rest)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("time span %q: %w", s, err)
		}
		rest = rest[i:]
		j := strings.IndexFunc(rest, func(r rune) bool { return r >= '0' && r <= '9' || r == ' ' })
		if j < 0 {
			j = len(rest)
		}
		u, ok := units[rest[:j]]
		if !ok {
			return 0, fmt.Errorf("time span %q: unknown unit %q", s, rest[:j])
		}
		total += time.Duration(n) * u
		rest = strings.TrimLeft(rest[j:], " ")
	}
	return total, nil
}

// want is what one setting of a rendered unit must read back as.
type want struct {
	section, key string
	check        func(value string) error
}

func equals(expected string) func(string) error {
	return func(v string) error {
		if v != expected {
			return fmt.Errorf("is %q, want %q", v, expected)
		}
		return nil
	}
}

func unescapesTo(expected string) func(string) error {
	return func(v string) error {
		got, err := unescapeWord(v, false)
		if err != nil {
			return err
		}
		if got != expected {
			return fmt.Errorf("reads back as %q, want %q", got, expected)
		}
		return nil
	}
}

func span(expected time.Duration) func(string) error {
	return func(v string) error {
		got, err := ParseSpan(v)
		if err != nil {
			return err
		}
		if got != expected {
			return fmt.Errorf("is %s, want %s", got, expected)
		}
		return nil
	}
}

func command(expected []string) func(string) error {
	return func(v string) error {
		got, err := SplitCommandLine(v)
		if err != nil {
			return err
		}
		if !slices.Equal(got, expected) {
			return fmt.Errorf("reads back as %q, want %q", got, expected)
		}
		if len(got) == 0 || !filepath.IsAbs(got[0]) {
			return fmt.Errorf("program %q is not an absolute path", got)
		}
		return nil
	}
}

// wants lists every setting u must hold, and nothing else may be there.
func wants(u Unit) []want {
	j := u.Job
	if !u.IsTimer() {
		return []want{
			{"Unit", "Description", unescapesTo(j.Description())},
			{"Service", "Type", equals("oneshot")},
			{"Service", "ExecStart", command(j.ExecStart)},
		}
	}
	w := []want{{"Unit", "Description", unescapesTo(j.TimerDescription())}}
	if j.OnCalendar != "" {
		w = append(w, want{"Timer", "OnCalendar", unescapesTo(j.OnCalendar)}, want{"Timer", "Persistent", equals("true")})
	} else {
		w = append(w, want{"Timer", "OnUnitActiveSec", span(j.Every)}, want{"Timer", "AccuracySec", span(time.Second)})
	}
	if j.FirstDelay != nil {
		w = append(w, want{"Timer", "OnStartupSec", span(*j.FirstDelay)})
	}
	return append(w, want{"Install", "WantedBy", equals("timers.target")})
}

var (
	// secretKeys are settings that would put a value into the unit or the
	// process environment: a unit file is world-readable.
	secretKeys = regexp.MustCompile(`^(Environment|EnvironmentFile|PassEnvironment|LoadCredential|LoadCredentialEncrypted|SetCredential|SetCredentialEncrypted|ImportCredential)$`)
)

// Validate checks a rendered unit: it must read back (ParseUnit,
// SplitCommandLine, ParseSpan) as exactly the settings its Job implies, in
// the sections they belong to, each once; no Environment= or credential
// setting, no value that looks like a credential, and none of secrets
// anywhere in the file. Every problem found is reported, joined, each
// wrapping ErrInvalid.
func Validate(u Unit, secrets []Secret) error {
	var errs []error
	bad := func(format string, args ...any) {
		// A message quotes values; never let it carry a secret out.
		msg := secretscan.Redact(fmt.Sprintf(format, args...), secrets)
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, u.Name, msg))
	}
	for _, s := range secrets {
		if s.Value != "" && bytes.Contains(u.Data, []byte(s.Value)) {
			bad("contains %s", s.Name)
		}
	}
	settings, err := ParseUnit(u.Data)
	if err != nil {
		bad("parse: %v", err)
		return errors.Join(errs...)
	}
	expected := wants(u)
	seen := map[string]bool{}
	for _, s := range settings {
		id := s.Section + "/" + s.Key
		if secretKeys.MatchString(s.Key) {
			bad("line %d: %s= has no place in a world-readable unit: the token is read from its mode-0600 file at run time", s.Line, s.Key)
			continue
		}
		if secretscan.LooksLikeCredential(s.Value) {
			bad("line %d: the value of %s= looks like a credential", s.Line, s.Key)
		}
		i := slices.IndexFunc(expected, func(w want) bool { return w.section == s.Section && w.key == s.Key })
		if i < 0 {
			bad("line %d: unexpected setting %s= in [%s]", s.Line, s.Key, s.Section)
			continue
		}
		if seen[id] {
			bad("line %d: %s= set twice in [%s]", s.Line, s.Key, s.Section)
			continue
		}
		seen[id] = true
		if err := expected[i].check(s.Value); err != nil {
			bad("line %d: %s= %v", s.Line, s.Key, err)
		}
	}
	for _, w := range expected {
		if !seen[w.section+"/"+w.key] {
			bad("%s= is missing from [%s]", w.key, w.section)
		}
	}
	return errors.Join(errs...)
}

// analyze runs systemd-analyze with args and returns its combined output
// and exit code. XDG_RUNTIME_DIR is pointed at a scratch directory when it
// is not set: `systemd-analyze --user` needs one, and no running systemd.
func analyze(ctx context.Context, args ...string) (string, int, error) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return "", -1, ErrNoSystemdAnalyze
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = os.Environ()
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		dir, err := os.MkdirTemp("", "council-units-runtime-")
		if err != nil {
			return "", -1, fmt.Errorf("systemd-analyze: %w", err)
		}
		defer os.RemoveAll(dir)
		cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+dir)
	}
	cmd.WaitDelay = 5 * time.Second
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0, nil
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return out.String(), ee.ExitCode(), nil
	}
	return out.String(), -1, fmt.Errorf("systemd-analyze %s: %w", strings.Join(args, " "), err)
}

// VerifyFiles runs `systemd-analyze --user verify` on unit files: systemd's
// own parser and loader, which also checks that each ExecStart= program
// exists and is executable. It exits 0 after mere warnings (an unknown
// setting, a value it ignores), so any output at all is a failure.
func VerifyFiles(ctx context.Context, files ...string) error {
	out, code, err := analyze(ctx, append([]string{"--user", "verify", "--man=no"}, files...)...)
	if err != nil {
		return err
	}
	if code != 0 || strings.TrimSpace(out) != "" {
		return fmt.Errorf("%w: systemd-analyze --user verify: exit %d: %s", ErrInvalid, code, strings.TrimSpace(out))
	}
	return nil
}

// CheckCalendar runs `systemd-analyze calendar spec`: spec must parse and
// normalize to itself.
func CheckCalendar(ctx context.Context, spec string) error {
	out, code, err := analyze(ctx, "calendar", spec)
	if err != nil {
		return err
	}
	if code != 0 || !strings.Contains(out, "Normalized form: "+spec+"\n") {
		return fmt.Errorf("%w: systemd-analyze calendar %q: exit %d: %s", ErrInvalid, spec, code, strings.TrimSpace(out))
	}
	return nil
}

// limitedBuffer keeps the first maxOutput bytes written to it: a command's
// output is bounded before it is quoted in an error.
type limitedBuffer struct{ bytes.Buffer }

const maxOutput = 64 << 10

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
