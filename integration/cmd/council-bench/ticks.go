package main

// tickSpec is how to run one healthy tick of a probe binary against the
// bench environment, for the RSS and timing figures.
type tickSpec struct {
	Binary string
	Note   string
	// Args are the binary's arguments; an error means the environment
	// cannot be laid out for it.
	Args func(e *env) ([]string, error)
}

// common are the flags every tick gets: no log file, no alert delivery,
// state in the bench home.
func common(e *env) []string {
	return []string{"--log-file", "/dev/null", "--force-flow-url", "", "--state-dir", e.StateDir}
}

var tickSpecs = []tickSpec{
	{Binary: "council-guardian", Args: func(e *env) ([]string, error) {
		return append(common(e), "--url", e.SimURL), nil
	}},
	{Binary: "council-canary", Args: func(e *env) ([]string, error) {
		return append(common(e), "--url", e.SimURL), nil
	}},
}

func specFor(binary string) (tickSpec, bool) {
	for _, s := range tickSpecs {
		if s.Binary == binary {
			return s, true
		}
	}
	return tickSpec{}, false
}

// command is spec's tick as a command, or why it cannot run.
func (s tickSpec) command(e *env) (command, string) {
	p := e.BinPath(s.Binary)
	if p == "" {
		return command{}, "not built (no " + s.Binary + " in the bin directory)"
	}
	args, err := s.Args(e)
	if err != nil {
		return command{}, err.Error()
	}
	return command{Argv: append([]string{p}, args...), Env: e.Env()}, ""
}
