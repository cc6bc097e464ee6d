package ctxwindow

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/host/paths"
	"github.com/sanctum/council-probes/pkg/probe"
)

// Defaults of the context probe's own settings.
const (
	defaultFill         = 0.8
	defaultAnswerTokens = 64
	// defaultMaxPromptWords bounds the needle whatever window the server
	// claims: a server that says its window is a billion tokens must not
	// make the probe build a gigabyte prompt.
	defaultMaxPromptWords = 131072
	// defaultDeadline covers one long prefill on a slow machine: 26 000
	// tokens (0.8 of a 32k window) at 100 tokens/s is four and a half
	// minutes.
	defaultDeadline     = 10 * time.Minute
	defaultLogReadBytes = 8 << 20
	// minPromptWords is the shortest needle: the two codes and the
	// question.
	minPromptWords = 64
)

// settings are the context probe's resolved settings.
type settings struct {
	Model          string
	Expect         int
	Fill           float64
	CheckNeedle    bool
	MaxPromptWords int
	AnswerTokens   int
	Deadline       time.Duration
	ServerLog      string
	LogReadBytes   int64
}

func env(name string) []string { return []string{"COUNCIL_CONTEXT_" + name} }

func flags() []cli.Flag {
	h := paths.UserHome()
	return []cli.Flag{
		&cli.IntFlag{Name: "expect-context", EnvVars: env("EXPECT"),
			Usage: "the context window (tokens) the council should have; a smaller one is context_smaller, and the needle is sized for it. 0 = take the server's word"},
		&cli.Float64Flag{Name: "context-fill", EnvVars: env("FILL"), Value: defaultFill,
			Usage: "how much of the window the needle prompt fills (0 < fill <= 1): the cost of the tick, one prefill of this many tokens"},
		&cli.BoolFlag{Name: "check-needle", EnvVars: env("CHECK_NEEDLE"),
			Usage: "judge the codes the answer repeats: a missing one is context_truncated (a small or random model cannot do it; off by default)"},
		&cli.IntFlag{Name: "max-prompt-words", EnvVars: env("MAX_PROMPT_WORDS"), Value: defaultMaxPromptWords,
			Usage: "the needle is never longer than this, whatever window the server claims"},
		&cli.IntFlag{Name: "answer-tokens", EnvVars: env("ANSWER_TOKENS"), Value: defaultAnswerTokens,
			Usage: "max_tokens of the needle's answer (two codes)"},
		&cli.DurationFlag{Name: "deadline", EnvVars: env("DEADLINE"), Value: defaultDeadline,
			Usage: "hard limit on the needle request (one long prefill), model lookup included"},
		&cli.StringFlag{Name: "server-log", EnvVars: append(env("SERVER_LOG"), "COUNCIL_PRIMARY_LOG"), Value: h.PrimaryLog(),
			Usage: "the server's own log (Ollama: ~/.ollama/logs/server.log; llama-server: its stderr file), read for truncations and context shifts; empty = not read"},
		&cli.Int64Flag{Name: "log-read-bytes", EnvVars: env("LOG_READ_BYTES"), Value: defaultLogReadBytes,
			Usage: "at most this much of --server-log is read per tick (what was written since the last one; the rest is skipped and counted)"},
	}
}

// settingsFrom binds the probe's flags from c (and --model, the common
// one it sizes the needle for) and validates them.
func settingsFrom(c *cli.Context) (settings, error) {
	s := settings{
		Model:          probe.CommonFrom(c).Model,
		Expect:         c.Int("expect-context"),
		Fill:           c.Float64("context-fill"),
		CheckNeedle:    c.Bool("check-needle"),
		MaxPromptWords: c.Int("max-prompt-words"),
		AnswerTokens:   c.Int("answer-tokens"),
		Deadline:       c.Duration("deadline"),
		ServerLog:      c.String("server-log"),
		LogReadBytes:   c.Int64("log-read-bytes"),
	}
	return s, s.validate()
}

// validate reports the first bad setting.
func (s settings) validate() error {
	switch {
	case s.Expect < 0:
		return fmt.Errorf("bad --expect-context %d: want tokens, or 0 to take the server's word", s.Expect)
	case !(s.Fill > 0 && s.Fill <= 1):
		return fmt.Errorf("bad --context-fill %g: want more than 0 and at most 1", s.Fill)
	case s.MaxPromptWords < minPromptWords:
		return fmt.Errorf("bad --max-prompt-words %d: want at least %d", s.MaxPromptWords, minPromptWords)
	case s.AnswerTokens < 1:
		return fmt.Errorf("bad --answer-tokens %d: want at least 1", s.AnswerTokens)
	case s.Deadline <= 0:
		return fmt.Errorf("bad --deadline %s: want a positive duration", s.Deadline)
	case s.LogReadBytes < 4096:
		return fmt.Errorf("bad --log-read-bytes %d: want at least 4096", s.LogReadBytes)
	}
	return nil
}
