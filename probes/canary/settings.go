package canary

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/probe"
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
	}
}

// settingsFrom builds the Canary from the tick's flags.
func settingsFrom(t *probe.Tick) (*canary, error) {
	c := t.C
	expect, err := regexp.Compile(c.String("expect"))
	if err != nil {
		return nil, fmt.Errorf("bad --expect %q: want a regexp (RE2): %w", c.String("expect"), err)
	}
	can := &canary{
		Client:    t.Client,
		Model:     t.Common.Model,
		Prompt:    c.String("prompt"),
		Expect:    expect,
		MaxTokens: c.Int("max-tokens"),
		MaxWords:  c.Int("max-answer-words"),
		Stream:    c.Bool("stream"),
		Deadline:  c.Duration("deadline"),
		TTFB:      c.Duration("ttfb-timeout"),
		Stall:     c.Duration("stall-timeout"),
		Now:       t.Now,

		LoadAllowance: c.Duration("load-allowance"),
	}
	if t.Server != nil {
		can.Resident = func(ctx context.Context, model string) (bool, bool) {
			return t.ModelResident(ctx, model, residencyTimeout)
		}
	}
	switch {
	case strings.TrimSpace(can.Prompt) == "":
		return nil, fmt.Errorf("bad --prompt %q: want a question", can.Prompt)
	case can.MaxTokens < 1:
		return nil, fmt.Errorf("bad --max-tokens %d: want at least 1", can.MaxTokens)
	case can.MaxWords < 0:
		return nil, fmt.Errorf("bad --max-answer-words %d: want 0 or more", can.MaxWords)
	case can.Deadline <= 0:
		return nil, fmt.Errorf("bad --deadline %s: want a positive duration", can.Deadline)
	case can.TTFB <= 0:
		return nil, fmt.Errorf("bad --ttfb-timeout %s: want a positive duration", can.TTFB)
	case can.Stall <= 0:
		return nil, fmt.Errorf("bad --stall-timeout %s: want a positive duration", can.Stall)
	case can.LoadAllowance < 0:
		return nil, fmt.Errorf("bad --load-allowance %s: want 0 or a positive duration", can.LoadAllowance)
	}
	return can, nil
}
