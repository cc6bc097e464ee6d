package canary

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/server/openai"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// maxBodyBytes bounds a non-streamed response body the canary reads.
const maxBodyBytes = 1 << 20

// canary asks the council one question and judges the answer. Its zero
// limits are not usable; New's flags fill them.
type canary struct {
	Client *transport.Client
	// Model is the model to ask; empty asks for the one /v1/models serves
	// (openai.Models.Served).
	Model     string
	Prompt    string
	Expect    *regexp.Regexp
	MaxTokens int
	// MaxWords bounds the answer's words with the default Expect (0: no
	// bound); see answer.go.
	MaxWords int
	Stream   bool
	// Deadline bounds the whole run (model lookup included); TTFB bounds
	// the wait for each response header; Stall the gap between two stream
	// events.
	Deadline, TTFB, Stall time.Duration
	// MaxEventBytes bounds one stream event (openai.DefaultMaxEventBytes
	// if 0).
	MaxEventBytes int
	// Now is the clock (time.Now if nil).
	Now func() time.Time

	// Resident says whether the server has the model loaded, where its
	// backend can tell (known); nil: it cannot. A model that is not
	// loaded gets LoadAllowance more time (cold.go).
	Resident      func(ctx context.Context, model string) (resident, known bool)
	LoadAllowance time.Duration
}

func (c *canary) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// api is the council client under the canary's limits.
func (c *canary) api() *openai.Client { return c.apiWith(c.TTFB) }

// apiWith is the council client with ttfb as its time-to-first-byte limit.
func (c *canary) apiWith(ttfb time.Duration) *openai.Client {
	api := openai.New(c.Client).WithLimits(openai.Limits{TTFB: ttfb, Stall: c.Stall})
	api.MaxBody, api.MaxEvent, api.Now = maxBodyBytes, c.MaxEventBytes, c.Now
	return api
}

// Run asks the question once and returns what it found. The error is
// non-nil only when ctx itself was cancelled (SIGTERM): then nothing was
// determined and nothing must be reported as failing.
func (c *canary) Run(ctx context.Context) (result, error) {
	res := newResult(c.Stream)
	begin := c.now()
	err := c.run(ctx, &res)
	res.Latency = c.now().Sub(begin)
	return res, err
}

func (c *canary) run(ctx context.Context, res *result) error {
	dctx, cancel := context.WithTimeout(ctx, c.Deadline)
	defer cancel()
	api := c.api()

	res.Model = c.Model
	if res.Model == "" {
		id, _, err := api.ServedModel(dctx, "")
		if err := ctx.Err(); err != nil {
			return err
		}
		if err != nil {
			c.failWith(res, err)
			return nil
		}
		res.Model = id
	}
	if c.cold(dctx, res) {
		// The question will first load the model: the same limits, plus
		// the allowance, from the same start.
		end, _ := dctx.Deadline()
		cancel()
		dctx, cancel = context.WithDeadline(ctx, end.Add(c.LoadAllowance))
		defer cancel()
		api = c.apiWith(c.TTFB + c.LoadAllowance)
	}
	req := openai.UserPrompt(res.Model, c.Prompt, c.MaxTokens)
	var (
		chat openai.ChatResult
		err  error
	)
	if c.Stream {
		chat, err = api.ChatStream(dctx, req)
	} else {
		chat, err = api.Chat(dctx, req)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res.record(chat, err)
	if err != nil {
		c.failWith(res, err)
		return nil
	}
	c.judge(res)
	return nil
}

// record copies what the council said into res.
func (r *result) record(chat openai.ChatResult, err error) {
	r.HTTPStatus = chat.Status
	tm := chat.Timings
	r.TTFB = tm.TTFB()
	if r.TTFB == 0 {
		// No header: the time waited for one.
		r.TTFB = tm.Total()
	}
	r.PromptTokens, r.CompletionTokens = chat.PromptTokens, chat.CompletionTokens
	r.FinishReason = chat.FinishReason
	if !r.Stream {
		if err == nil {
			r.setAnswer(chat)
		}
		return
	}
	r.Chunks = chat.Chunks
	if !tm.FirstContent.IsZero() {
		r.TTFT = tm.FirstContent.Sub(tm.Start)
	}
	if n, span := chat.CompletionTokens, tm.Decode(); n > 1 && span > 0 {
		r.TokensPerSecond = float64(n-1) / span.Seconds()
	}
	if err == nil || errors.Is(err, openai.ErrNoFinishReason) {
		// The stream was read to [DONE]: its content is the answer.
		r.setAnswer(chat)
	}
}

// setAnswer records the answer: content without inline reasoning, bounded.
func (r *result) setAnswer(chat openai.ChatResult) {
	r.Answered = true
	r.Answer = chat.Answer
	if len(r.Answer) > maxAnswerBytes {
		r.Answer = r.Answer[:maxAnswerBytes]
	}
	r.ReasoningBytes = chat.ReasoningBytes
}

// failWith records err as the failing check. An auth refusal (401, 403) is
// an http_error to the canary: it has no channel of its own here, and it
// never remediates anything either way.
func (c *canary) failWith(res *result, err error) {
	var e *openai.Error
	if !errors.As(err, &e) {
		res.fail(CheckBadResponse, "%v", err)
		return
	}
	check := map[openai.Class]string{
		openai.Unreachable: CheckUnreachable,
		openai.Hang:        CheckHang,
		openai.HTTPError:   CheckHTTPError,
		openai.Auth:        CheckHTTPError,
		openai.StreamStall: CheckStreamStall,
		openai.BadResponse: CheckBadResponse,
	}[e.Class]
	detail := e.Error()
	switch {
	case errors.Is(err, openai.ErrNoModels):
		detail = e.Op + " lists no models (set --model to ask one by name)"
	case e.Limit == openai.LimitDeadline:
		// The deadline is the canary's: name it.
		detail = strings.Replace(detail, "the deadline", fmt.Sprintf("the %s deadline", c.Deadline), 1)
	}
	if res.Cold && check == CheckHang {
		detail += fmt.Sprintf(" (the model was not loaded before the question: the limits included a %s allowance to load it)", c.LoadAllowance)
	}
	res.fail(check, "%s", detail)
}

// judge decides whether the assembled answer is the expected one: by the
// --expect regexp, and with the default one (the number 4) also short,
// whole and first saying 4 (answer.go).
func (c *canary) judge(res *result) {
	numbers := c.Expect.String() == defaultExpect
	switch {
	case empty(res.Answer) && res.ReasoningBytes > 0 && res.FinishReason == "length":
		res.fail(CheckBadResponse, "empty answer: the model spent max_tokens=%d on reasoning (%d bytes; finish_reason=length); raise --max-tokens",
			c.MaxTokens, res.ReasoningBytes)
	case empty(res.Answer) && res.ReasoningBytes > 0:
		res.fail(CheckBadResponse, "empty answer: only reasoning (%d bytes), no content (finish_reason=%s)", res.ReasoningBytes, orNone(res.FinishReason))
	case empty(res.Answer):
		res.fail(CheckBadResponse, "empty answer (finish_reason=%s)", orNone(res.FinishReason))
	case numbers && res.FinishReason == "length":
		res.failRule(ruleCut, "answered %q to %q and was cut by the token limit (finish_reason=length, max_tokens=%d): a reply with only the number ends on its own",
			text.Cut(res.Answer, 80), c.Prompt, c.MaxTokens)
	case numbers && c.MaxWords > 0 && words(res.Answer) > c.MaxWords:
		res.failRule(ruleLong, "answered %d words (%q) to %q; a reply with only the number has at most %d (--max-answer-words)",
			words(res.Answer), text.Cut(res.Answer, 80), c.Prompt, c.MaxWords)
	case !c.Expect.MatchString(res.Answer):
		res.failRule(ruleExpect, "answered %q to %q; expected a match for %s (finish_reason=%s)",
			text.Cut(res.Answer, 80), c.Prompt, describeExpect(c.Expect), orNone(res.FinishReason))
	case numbers && !fourRE.MatchString(firstNumber(res.Answer)):
		res.failRule(ruleFirstNumber, "answered %q to %q: its first number is %s, not 4",
			text.Cut(res.Answer, 80), c.Prompt, firstNumber(res.Answer))
	}
}

func describeExpect(re *regexp.Regexp) string {
	if re.String() == defaultExpect {
		return "the number 4 standing alone"
	}
	return "/" + re.String() + "/"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
