package launchctl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrParse is wrapped by the parsers when output is not in launchctl's format.
var ErrParse = errors.New("unrecognised launchctl output")

// ServiceInfo is what the probes need from `launchctl print
// gui/<uid>/<label>`: the service's block, with its nested blocks skipped
// except the program's arguments.
type ServiceInfo struct {
	Target string // "gui/501/com.sanctum.mlx", from the block's header
	Label  string // the last path element of Target

	State string // "running", "not running", "spawn scheduled", ...
	PID   int    // 0 when no process runs

	// LastExitCode is meaningful only when LastExitKnown; "(never
	// exited)" leaves it false. LastExit keeps the raw text ("78:
	// EX_CONFIG").
	LastExitCode  int
	LastExitKnown bool
	LastExit      string
	LastSignal    string // "last terminating signal", e.g. "Terminated: 15"
	// LastSignalNumber is the number at the end of LastSignal ("Segmentation
	// fault: 11" -> 11); 0 when there is none.
	LastSignalNumber int

	Path       string   // the plist launchd loaded the service from
	Program    string   // program launchd execs
	Arguments  []string // argv, from the "arguments = { }" block
	Type       string   // "LaunchAgent", ...
	Domain     string   // "gui/501 [100004]"
	Runs       int      // times launchd has started it
	Properties []string // "keepalive", "runatload", ...

	// Fields holds every top-level "key = value" line as printed.
	Fields map[string]string
}

// Running reports whether launchd says a process of the service is running.
func (s *ServiceInfo) Running() bool { return s.State == "running" && s.PID > 0 }

// Abnormal reports whether the service's last process ended badly: by a
// signal, or with a non-zero exit code. A service that never exited, or
// whose exit launchd did not see, is not abnormal.
func (s *ServiceInfo) Abnormal() bool {
	return s.LastSignal != "" || (s.LastExitKnown && s.LastExitCode != 0)
}

// ExitCause says how the service's last process ended, for an alert:
// "signal 11 (Segmentation fault: 11)", "exit code 78 (78: EX_CONFIG)",
// "exit code 0"; "" when launchd reports no exit (never exited, unknown).
func (s *ServiceInfo) ExitCause() string {
	switch {
	case s.LastSignalNumber > 0:
		return fmt.Sprintf("signal %d (%s)", s.LastSignalNumber, s.LastSignal)
	case s.LastSignal != "":
		return "signal " + s.LastSignal
	case s.LastExitKnown && s.LastExit != strconv.Itoa(s.LastExitCode):
		return fmt.Sprintf("exit code %d (%s)", s.LastExitCode, s.LastExit)
	case s.LastExitKnown:
		return fmt.Sprintf("exit code %d", s.LastExitCode)
	}
	return ""
}

// HasProperty reports whether the "properties = a | b" line lists p.
func (s *ServiceInfo) HasProperty(p string) bool {
	for _, q := range s.Properties {
		if q == p {
			return true
		}
	}
	return false
}

// ParsePrint parses the output of `launchctl print <service-target>`: a
// header line "<target> = {", indented "key = value" lines, nested "key =
// { ... }" blocks, and a closing "}".
func ParsePrint(out []byte) (*ServiceInfo, error) {
	info := &ServiceInfo{Fields: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	depth := 0
	closed := false
	block := "" // name of the depth-2 block being read
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if depth == 0 {
			if closed {
				break // only the first service block counts
			}
			target, ok := strings.CutSuffix(line, " = {")
			if !ok {
				continue // e.g. a leading warning line
			}
			info.Target = strings.TrimSpace(target)
			if i := strings.LastIndexByte(info.Target, '/'); i >= 0 {
				info.Label = info.Target[i+1:]
			} else {
				info.Label = info.Target
			}
			depth = 1
			continue
		}
		if line == "}" {
			depth--
			if depth == 1 {
				block = ""
			}
			if depth == 0 {
				closed = true
			}
			continue
		}
		if strings.HasSuffix(line, "{") {
			if depth == 1 {
				name, _, _ := strings.Cut(line, " = ")
				block = strings.TrimSpace(name)
			}
			depth++
			continue
		}
		if depth == 2 && block == "arguments" {
			info.Arguments = append(info.Arguments, line)
			continue
		}
		if depth != 1 {
			continue
		}
		key, value, ok := strings.Cut(line, " = ")
		if !ok {
			key, value, ok = strings.Cut(line, " =")
			if !ok {
				continue
			}
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		info.Fields[key] = value
		if err := info.set(key, value); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse launchctl print: %w", err)
	}
	if info.Target == "" {
		return nil, fmt.Errorf("parse launchctl print: no service block: %w", ErrParse)
	}
	if !closed {
		return nil, fmt.Errorf("parse launchctl print %s: unterminated block: %w", info.Target, ErrParse)
	}
	return info, nil
}

func (s *ServiceInfo) set(key, value string) error {
	switch key {
	case "state":
		s.State = value
	case "pid":
		pid, err := strconv.Atoi(value)
		if err != nil || pid < 0 {
			return fmt.Errorf("parse launchctl print %s: pid %q: %w", s.Target, value, ErrParse)
		}
		s.PID = pid
	case "last exit code":
		s.LastExit = value
		num, _, _ := strings.Cut(value, ":")
		if code, err := strconv.Atoi(strings.TrimSpace(num)); err == nil {
			s.LastExitCode, s.LastExitKnown = code, true
		} else {
			s.LastExitCode, s.LastExitKnown = 0, false // "(never exited)"
		}
	case "last terminating signal":
		s.LastSignal = value
		s.LastSignalNumber = 0
		if i := strings.LastIndexByte(value, ':'); i >= 0 {
			if n, err := strconv.Atoi(strings.TrimSpace(value[i+1:])); err == nil && n > 0 && n < 128 {
				s.LastSignalNumber = n
			}
		}
	case "path":
		s.Path = value
	case "program":
		s.Program = value
	case "type":
		s.Type = value
	case "domain":
		s.Domain = value
	case "runs":
		if n, err := strconv.Atoi(value); err == nil && n >= 0 {
			s.Runs = n
		}
	case "properties":
		s.Properties = nil
		for _, p := range strings.Split(value, "|") {
			if p = strings.TrimSpace(p); p != "" {
				s.Properties = append(s.Properties, p)
			}
		}
	}
	return nil
}

// ParsePrintDisabled parses the output of `launchctl print-disabled
// gui/<uid>`: the "disabled services = { ... }" block of
// `"label" => disabled|enabled` lines (macOS before 11 prints true|false)
// into label -> disabled. A label absent from the map has no override.
func ParsePrintDisabled(out []byte) (map[string]bool, error) {
	m := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	in, found := false, false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !in {
			if line == "disabled services = {" {
				in, found = true, true
			}
			continue
		}
		if line == "}" {
			return m, nil
		}
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=>")
		if !ok {
			return nil, fmt.Errorf("parse launchctl print-disabled: line %q: %w", line, ErrParse)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		label, err := strconv.Unquote(key)
		if err != nil || label == "" {
			return nil, fmt.Errorf("parse launchctl print-disabled: label %s: %w", key, ErrParse)
		}
		switch value {
		case "disabled", "true":
			m[label] = true
		case "enabled", "false":
			m[label] = false
		default:
			return nil, fmt.Errorf("parse launchctl print-disabled: %s => %q: %w", key, value, ErrParse)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse launchctl print-disabled: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("parse launchctl print-disabled: no disabled services block: %w", ErrParse)
	}
	return nil, fmt.Errorf("parse launchctl print-disabled: unterminated block: %w", ErrParse)
}
