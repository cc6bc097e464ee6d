package canary

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// Defaults of the canary's own settings.
const (
	defaultMaxTokens    = 256
	defaultDeadline     = 75 * time.Second
	defaultTTFBTimeout  = 45 * time.Second
	defaultStallTimeout = 30 * time.Second
	// defaultLoadAllowance is what a cold model adds to the deadline and
	// the time-to-first-byte limit: loading the weights of a large model
	// from disk takes tens of seconds.
	defaultLoadAllowance = 60 * time.Second
)

// flags are the canary's own flags, in --help's order: the question and
// its limits, then the CPU sample of a hang.
func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "prompt", EnvVars: []string{"COUNCIL_CANARY_PROMPT"}, Value: defaultPrompt,
			Usage: "the question to ask"},
		&cli.StringFlag{Name: "expect", EnvVars: []string{"COUNCIL_CANARY_EXPECT"}, Value: defaultExpect,
			Usage: "regexp (RE2) the answer must match; the default is the number 4 standing alone (\"4\", \"4.\", \"The answer is 4\" pass; \"14\", \"40\" do not)"},
		&cli.IntFlag{Name: "max-tokens", EnvVars: []string{"COUNCIL_CANARY_MAX_TOKENS"}, Value: defaultMaxTokens,
			Usage: "max_tokens of the request; leave room for models that think before answering"},
		&cli.IntFlag{Name: "max-answer-words", EnvVars: []string{"COUNCIL_CANARY_MAX_ANSWER_WORDS"}, Value: defaultMaxAnswerWords,
			Usage: "with the default --expect, the answer (reasoning aside) has at most this many words, ends on its own (not finish_reason=length) and its first number is 4; 0 = no word limit"},
		&cli.BoolFlag{Name: "stream", EnvVars: []string{"COUNCIL_CANARY_STREAM"},
			Usage: "ask over server-sent events and check the stream (chunks, [DONE], finish_reason, stalls, time to first token)"},
		&cli.DurationFlag{Name: "deadline", EnvVars: []string{"COUNCIL_CANARY_DEADLINE"}, Value: defaultDeadline,
			Usage: "hard limit on the whole request, model lookup included"},
		&cli.DurationFlag{Name: "ttfb-timeout", EnvVars: []string{"COUNCIL_CANARY_TTFB_TIMEOUT"}, Value: defaultTTFBTimeout,
			Usage: "limit on the wait for a response header (without --stream that is the whole generation)"},
		&cli.DurationFlag{Name: "stall-timeout", EnvVars: []string{"COUNCIL_CANARY_STALL_TIMEOUT"}, Value: defaultStallTimeout,
			Usage: "(--stream) longest allowed gap between two stream events"},
		&cli.DurationFlag{Name: "load-allowance", EnvVars: []string{"COUNCIL_CANARY_LOAD_ALLOWANCE"}, Value: defaultLoadAllowance,
			Usage: "added to --deadline and --ttfb-timeout when the server says the model is not loaded before the question (Ollama unloads one after 5 idle minutes); 0 = none"},
		// The CPU sample of a hang (cpu.go).
		&cli.DurationFlag{Name: "cpu-window", EnvVars: []string{"COUNCIL_CANARY_CPU_WINDOW"}, Value: defaultCPUWindow,
			Usage: "on a hang or stall, sample the primary's CPU this long to say busy or idle in the alert (0 = do not sample)"},
		&cli.Float64Flag{Name: "idle-cpu", EnvVars: []string{"COUNCIL_CANARY_IDLE_CPU"}, Value: defaultIdleCPU,
			Usage: "below this fraction of one core the primary reads as idle (the guardian's --idle-cpu)"},
		&cli.StringFlag{Name: "primary-label", Aliases: []string{"primary-unit"}, EnvVars: []string{"COUNCIL_PRIMARY_LABEL", "COUNCIL_PRIMARY_UNIT"}, Value: defaultPrimaryLabel,
			Usage: "launchd label, or systemd unit, of the primary, whose pid (its service manager's) is sampled"},
	}
}

// settings are the canary's flags, resolved.
type settings struct {
	Prompt string
	// Expect is --expect compiled; ExpectText the flag as given.
	Expect     *regexp.Regexp
	ExpectText string
	MaxTokens  int
	// MaxWords bounds the answer's words with the default --expect (0: no
	// bound).
	MaxWords int
	Stream   bool
	// Deadline bounds the whole run, TTFB the wait for a response header,
	// Stall the gap between two stream events; LoadAllowance is added to
	// Deadline and TTFB for a model that is not loaded.
	Deadline, TTFB, Stall, LoadAllowance time.Duration
	// CPUWindow, IdleCPU and PrimaryLabel: the CPU sample of a hang
	// (cpu.go); a CPUWindow of 0 samples nothing.
	CPUWindow    time.Duration
	IdleCPU      float64
	PrimaryLabel string
}

// settingsFrom binds the canary's flags from c and validates them.
func settingsFrom(c *cli.Context) (settings, error) {
	s := settings{
		Prompt: c.String("prompt"), ExpectText: c.String("expect"),
		MaxTokens: c.Int("max-tokens"), MaxWords: c.Int("max-answer-words"), Stream: c.Bool("stream"),
		Deadline: c.Duration("deadline"), TTFB: c.Duration("ttfb-timeout"), Stall: c.Duration("stall-timeout"),
		LoadAllowance: c.Duration("load-allowance"),
		CPUWindow:     c.Duration("cpu-window"), IdleCPU: c.Float64("idle-cpu"), PrimaryLabel: c.String("primary-label"),
	}
	if err := s.validate(); err != nil {
		return s, err
	}
	s.Expect = regexp.MustCompile(s.ExpectText)
	return s, nil
}

// validate reports the first bad setting, --expect first.
func (s settings) validate() error {
	if _, err := regexp.Compile(s.ExpectText); err != nil {
		return fmt.Errorf("bad --expect %q: want a regexp (RE2): %w", s.ExpectText, err)
	}
	switch {
	case strings.TrimSpace(s.Prompt) == "":
		return fmt.Errorf("bad --prompt %q: want a question", s.Prompt)
	case s.MaxTokens < 1:
		return fmt.Errorf("bad --max-tokens %d: want at least 1", s.MaxTokens)
	case s.MaxWords < 0:
		return fmt.Errorf("bad --max-answer-words %d: want 0 or more", s.MaxWords)
	case s.Deadline <= 0:
		return fmt.Errorf("bad --deadline %s: want a positive duration", s.Deadline)
	case s.TTFB <= 0:
		return fmt.Errorf("bad --ttfb-timeout %s: want a positive duration", s.TTFB)
	case s.Stall <= 0:
		return fmt.Errorf("bad --stall-timeout %s: want a positive duration", s.Stall)
	case s.LoadAllowance < 0:
		return fmt.Errorf("bad --load-allowance %s: want 0 or a positive duration", s.LoadAllowance)
	}
	return nil
}
