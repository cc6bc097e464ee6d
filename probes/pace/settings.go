package pace

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/host/accesslog"
	"github.com/sanctum/council-probes/pkg/host/paths"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/backend"
)

// Defaults of the pace probe's own settings.
const (
	defaultPromptTokens = 512
	defaultDecodeTokens = 128
	defaultDeadline     = 3 * time.Minute
	defaultStall        = 30 * time.Second
	defaultSeverity     = alert.Warn
	defaultMaxUnjudged  = 8 // two hours at the 15-minute interval
)

// settings are the pace probe's resolved settings.
type settings struct {
	Model        string
	PromptTokens int
	DecodeTokens int
	Deadline     time.Duration
	Stall        time.Duration
	Rules        rules
	// BaselineTTFT is --baseline-ttft as given (Rules.PinnedTTFT in
	// seconds), for its error.
	BaselineTTFT time.Duration
	Severity     alert.Severity
	// Reset starts the baseline (rolling median and anchor) afresh.
	Reset bool
	// MaxUnjudged: this many samples in a row not judged warn on
	// not_judged; 0 never does.
	MaxUnjudged int
	// CheckAnswer: the answer must be a count (degenerate otherwise).
	CheckAnswer bool
	PrimaryLog  string
	BusyMarker  string
	BusyIgnore  []string
	TailBytes   int64
	// BusyCPU, BusyCPUWindow and PrimaryLabel: the CPU evidence of a busy
	// server (cpubusy.go); a BusyCPU of 0 samples nothing.
	BusyCPU       float64
	BusyCPUWindow time.Duration
	PrimaryLabel  string
}

func env(name string) []string { return []string{"COUNCIL_PACE_" + name} }

// flags are the pace probe's own flags, in --help's order: the sample,
// its baseline and the busy evidence, then the CPU evidence.
func flags() []cli.Flag {
	h := paths.UserHome()
	return []cli.Flag{
		&cli.IntFlag{Name: "prompt-tokens", EnvVars: env("PROMPT_TOKENS"), Value: defaultPromptTokens,
			Usage: "about how many tokens the prompt has (a nonce, padding, and the request to count)"},
		&cli.IntFlag{Name: "decode-tokens", EnvVars: env("DECODE_TOKENS"), Value: defaultDecodeTokens,
			Usage: "max_tokens of the request: how many tokens the decode speed is measured over"},
		&cli.IntFlag{Name: "baseline-samples", EnvVars: env("BASELINE_SAMPLES"), Value: defaultBaselineSamples,
			Usage: "the baseline is the median of this many last healthy samples (96 = a day at 15 min)"},
		&cli.IntFlag{Name: "warmup", EnvVars: env("WARMUP"), Value: defaultWarmup,
			Usage: "samples that only learn before any is judged (per model)"},
		&cli.Float64Flag{Name: "ttft-factor", EnvVars: env("TTFT_FACTOR"), Value: defaultTTFTFactor,
			Usage: "degraded when the time to first token exceeds this times the baseline"},
		&cli.Float64Flag{Name: "decode-factor", EnvVars: env("DECODE_FACTOR"), Value: defaultDecodeFactor,
			Usage: "degraded when the decode speed falls below this times the baseline"},
		&cli.DurationFlag{Name: "baseline-ttft", EnvVars: env("BASELINE_TTFT"),
			Usage: "pin the TTFT baseline (e.g. 400ms) and judge from the first sample; 0 = learn it"},
		&cli.Float64Flag{Name: "baseline-decode", EnvVars: env("BASELINE_DECODE"),
			Usage: "pin the decode baseline in tokens/s and judge from the first sample; 0 = learn it"},
		&cli.BoolFlag{Name: "baseline-reset", EnvVars: env("BASELINE_RESET"),
			Usage: "start the baseline afresh on this run (rolling median and long-term anchor): after a deliberate change that made the server slower for good; pass it once, by hand"},
		&cli.IntFlag{Name: "max-unjudged", EnvVars: env("MAX_UNJUDGED"), Value: defaultMaxUnjudged,
			Usage: "warn on not_judged after this many samples in a row taken but not judged (busy, implausible); 0 = never"},
		&cli.BoolFlag{Name: "no-check-answer", EnvVars: env("NO_CHECK_ANSWER"),
			Usage: "do not check that the answer is a count (degenerate): for a server whose model cannot count"},
		&cli.StringFlag{Name: "severity", EnvVars: env("SEVERITY"), Value: string(defaultSeverity),
			Usage: "severity of the ttft_degraded and decode_degraded alerts: warn|error|critical"},
		&cli.DurationFlag{Name: "deadline", EnvVars: env("DEADLINE"), Value: defaultDeadline,
			Usage: "hard limit on the whole sample, model lookup included; a stream cut by it is measured on what arrived"},
		&cli.DurationFlag{Name: "stall-timeout", EnvVars: env("STALL_TIMEOUT"), Value: defaultStall,
			Usage: "longest gap between two stream events before the sample is skipped as stalled"},
		&cli.StringFlag{Name: "primary-log", EnvVars: []string{"COUNCIL_PRIMARY_LOG"}, Value: h.PrimaryLog(),
			Usage: "the primary server's log: another client's request logged in it during the sample makes the sample busy (the council's own lines, Ollama's gin lines, llama-server's, uvicorn's); empty = never busy"},
		&cli.StringFlag{Name: "busy-marker", EnvVars: env("BUSY_MARKER"), Value: accesslog.DefaultMarker,
			Usage: "text of a completed-request line in --primary-log, in the council's own format (lines start with an RFC 3339 time)"},
		&cli.StringSliceFlag{Name: "busy-ignore", EnvVars: env("BUSY_IGNORE"), Value: cli.NewStringSlice(accesslog.IgnoreWithPaths(backend.AskedPaths...)...),
			Usage: "request lines containing this (or, in another server's format, its method=, path= and status= words) are not work (repeatable; default: the liveness checks and the probes' questions to the backend)"},
		&cli.Int64Flag{Name: "log-tail-bytes", EnvVars: env("LOG_TAIL_BYTES"), Value: accesslog.DefaultTailBytes,
			Usage: "how much of the end of --primary-log the busy scan reads"},
		// The CPU evidence of a busy server (cpubusy.go).
		&cli.Float64Flag{Name: "busy-cpu", EnvVars: env("BUSY_CPU"), Value: defaultBusyCPU,
			Usage: "a primary using more than this fraction of one core just before the sample is already working: the sample is busy (only where the server reports no running requests; 0 = off)"},
		&cli.DurationFlag{Name: "busy-cpu-window", EnvVars: env("BUSY_CPU_WINDOW"), Value: defaultBusyCPUWindow,
			Usage: "how long the primary's CPU (its whole process tree) is sampled before the request"},
		&cli.StringFlag{Name: "primary-label", Aliases: []string{"primary-unit"}, EnvVars: []string{"COUNCIL_PRIMARY_LABEL", "COUNCIL_PRIMARY_UNIT"}, Value: defaultPrimaryLabel,
			Usage: "launchd label, or systemd unit, of the primary, whose pid (its service manager's) is sampled"},
	}
}

// settingsFrom binds the probe's flags from c (and --model, the common
// one) and validates them.
func settingsFrom(c *cli.Context) (settings, error) {
	s := settings{
		Model:        probe.CommonFrom(c).Model,
		PromptTokens: c.Int("prompt-tokens"),
		DecodeTokens: c.Int("decode-tokens"),
		Deadline:     c.Duration("deadline"),
		Stall:        c.Duration("stall-timeout"),
		Rules: rules{
			Samples:      c.Int("baseline-samples"),
			Warmup:       c.Int("warmup"),
			TTFTFactor:   c.Float64("ttft-factor"),
			DecodeFactor: c.Float64("decode-factor"),
			PinnedTTFT:   c.Duration("baseline-ttft").Seconds(),
			PinnedDecode: c.Float64("baseline-decode"),
		},
		Severity:    alert.Severity(c.String("severity")),
		Reset:       c.Bool("baseline-reset"),
		MaxUnjudged: c.Int("max-unjudged"),
		CheckAnswer: !c.Bool("no-check-answer"),
		PrimaryLog:  c.String("primary-log"),
		BusyMarker:  c.String("busy-marker"),
		BusyIgnore:  c.StringSlice("busy-ignore"),
		TailBytes:   c.Int64("log-tail-bytes"),

		BaselineTTFT: c.Duration("baseline-ttft"),
		BusyCPU:      c.Float64("busy-cpu"), BusyCPUWindow: c.Duration("busy-cpu-window"), PrimaryLabel: c.String("primary-label"),
	}
	return s, s.validate()
}

// validate reports the first bad setting.
func (s settings) validate() error {
	switch {
	case s.PromptTokens < minPromptTokens:
		return fmt.Errorf("bad --prompt-tokens %d: want at least %d", s.PromptTokens, minPromptTokens)
	case s.DecodeTokens < 2:
		return fmt.Errorf("bad --decode-tokens %d: want at least 2 (the decode speed is measured after the first token)", s.DecodeTokens)
	case s.Rules.Samples < 1:
		return fmt.Errorf("bad --baseline-samples %d: want at least 1", s.Rules.Samples)
	case s.Rules.Warmup < 0:
		return fmt.Errorf("bad --warmup %d: want 0 or more", s.Rules.Warmup)
	case s.Rules.TTFTFactor <= 1:
		return fmt.Errorf("bad --ttft-factor %g: want more than 1", s.Rules.TTFTFactor)
	case s.Rules.DecodeFactor <= 0 || s.Rules.DecodeFactor >= 1:
		return fmt.Errorf("bad --decode-factor %g: want between 0 and 1", s.Rules.DecodeFactor)
	case s.Rules.PinnedTTFT < 0:
		return fmt.Errorf("bad --baseline-ttft %s: want a positive duration, or 0 to learn it", s.BaselineTTFT)
	case s.Rules.PinnedDecode < 0:
		return fmt.Errorf("bad --baseline-decode %g: want tokens per second, or 0 to learn it", s.Rules.PinnedDecode)
	case s.Severity != alert.Warn && s.Severity != alert.Error && s.Severity != alert.Critical:
		return fmt.Errorf("bad --severity %q: want warn, error or critical", s.Severity)
	case s.Deadline <= 0:
		return fmt.Errorf("bad --deadline %s: want a positive duration", s.Deadline)
	case s.Stall <= 0:
		return fmt.Errorf("bad --stall-timeout %s: want a positive duration", s.Stall)
	case s.MaxUnjudged < 0:
		return fmt.Errorf("bad --max-unjudged %d: want 0 (never) or more", s.MaxUnjudged)
	}
	return nil
}
