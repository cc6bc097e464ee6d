package systemdsim

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is what the simulation reads of a unit file, as systemd loads it
// (systemd.unit(5), systemd.service(5), systemd.exec(5)); every other key
// is ignored.
type Config struct {
	Path         string            `json:"path"`
	Description  string            `json:"description,omitempty"`
	ExecStart    []string          `json:"exec_start"`
	Restart      string            `json:"restart"`       // no (default), always, on-failure, on-abnormal, on-abort, on-success
	RestartDelay time.Duration     `json:"restart_delay"` // RestartSec=, default 100ms
	Env          map[string]string `json:"env,omitempty"`
	WorkingDir   string            `json:"working_dir,omitempty"`
	// StdoutFile and StderrFile are StandardOutput=/StandardError=
	// append:PATH or file:PATH; empty is the journal (the default).
	StdoutFile string `json:"stdout_file,omitempty"`
	StderrFile string `json:"stderr_file,omitempty"`
	// StartLimitInterval and StartLimitBurst: a unit started more than
	// Burst times within Interval is not started again (default 10 s, 5;
	// an interval of 0 turns the limit off).
	StartLimitInterval time.Duration `json:"start_limit_interval"`
	StartLimitBurst    int           `json:"start_limit_burst"`
	// WantedBy is [Install] WantedBy=: the targets `enable` links the
	// unit into. HasInstall: the unit has an [Install] section at all
	// (without one it is "static" and cannot be enabled).
	WantedBy   []string `json:"wanted_by,omitempty"`
	HasInstall bool     `json:"has_install"`
	// Timer: a .timer unit. The simulation keeps its state (started, it
	// waits: active/waiting) and runs nothing on its schedule.
	Timer bool `json:"timer,omitempty"`
}

// Defaults of systemd's manager configuration (systemd-system.conf(5)) and
// systemd.service(5).
const (
	DefaultStartLimitInterval = 10 * time.Second
	DefaultStartLimitBurst    = 5
	DefaultRestartDelay       = 100 * time.Millisecond // RestartSec=
)

// errNoUnitFile: no unit file of that name in the unit directory.
var errNoUnitFile = errors.New("no unit file")

// readUnit reads dir/name.
func readUnit(dir, name string) (*Config, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, errNoUnitFile)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &Config{Path: path, Restart: "no", RestartDelay: DefaultRestartDelay,
		StartLimitInterval: DefaultStartLimitInterval, StartLimitBurst: DefaultStartLimitBurst}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if section == "Install" {
				c.HasInstall = true
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not key=value: %q", path, n, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if err := c.set(section, key, value); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	c.Timer = strings.HasSuffix(name, ".timer")
	if len(c.ExecStart) == 0 && !c.Timer {
		return nil, fmt.Errorf("%s: no ExecStart=", path)
	}
	return c, nil
}

func (c *Config) set(section, key, value string) error {
	var err error
	switch section + "." + key {
	case "Unit.Description":
		c.Description = value
	case "Unit.StartLimitIntervalSec", "Service.StartLimitInterval", "Service.StartLimitIntervalSec":
		c.StartLimitInterval, err = parseSpan(value)
	case "Unit.StartLimitBurst", "Service.StartLimitBurst":
		c.StartLimitBurst, err = strconv.Atoi(value)
	case "Service.ExecStart":
		// "-", "@", "+", "!" prefixes change how systemd runs it; the
		// simulation runs it plainly.
		c.ExecStart, err = splitCommand(strings.TrimLeft(value, "-@+!:"))
	case "Service.Restart":
		switch value {
		case "no", "always", "on-success", "on-failure", "on-abnormal", "on-abort", "on-watchdog":
			c.Restart = value
		default:
			err = fmt.Errorf("not a Restart= setting: %q", value)
		}
	case "Service.RestartSec":
		c.RestartDelay, err = parseSpan(value)
	case "Service.Environment":
		words, werr := splitCommand(value)
		if werr != nil {
			return werr
		}
		if c.Env == nil {
			c.Env = map[string]string{}
		}
		for _, w := range words {
			if k, v, ok := strings.Cut(w, "="); ok {
				c.Env[k] = v
			}
		}
	case "Service.WorkingDirectory":
		c.WorkingDir = strings.TrimPrefix(value, "-")
	case "Service.StandardOutput":
		c.StdoutFile = outputFile(value)
	case "Service.StandardError":
		c.StderrFile = outputFile(value)
	case "Install.WantedBy":
		c.WantedBy = append(c.WantedBy, strings.Fields(value)...)
	}
	return err
}

// outputFile is the path of StandardOutput=append:PATH or file:PATH; ""
// for the journal (and what the simulation does not model).
func outputFile(v string) string {
	for _, p := range []string{"append:", "file:"} {
		if rest, ok := strings.CutPrefix(v, p); ok {
			return rest
		}
	}
	return ""
}

// parseSpan reads a systemd time span: "5", "5s", "100ms", "2min", "1h".
func parseSpan(v string) (time.Duration, error) {
	v = strings.ReplaceAll(v, " ", "")
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	v = strings.Replace(strings.Replace(v, "min", "m", 1), "sec", "s", 1)
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("time span %q", v)
	}
	return d, nil
}

// splitCommand splits a command line as systemd does for ExecStart= and
// Environment=: words separated by spaces, "double" or 'single' quotes
// group, "$$" is a literal "$", and a backslash escapes the next byte.
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0 && ch == quote:
			quote = 0
		case quote == 0 && (ch == '"' || ch == '\''):
			quote, inWord = ch, true
		case quote == 0 && (ch == ' ' || ch == '\t'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == '$' && i+1 < len(s) && s[i+1] == '$':
			i++
			cur.WriteByte('$')
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
