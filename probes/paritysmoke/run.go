package paritysmoke

import (
	"context"
	"time"
)

// Result is the outcome of one prompt.
type Result struct {
	Prompt  Prompt
	Pass    bool
	Reason  string
	Primary Answer
	// Reference is the reference's answer (nil without a reference).
	Reference *Answer
	// RefProblem says why the reference's answer could not be compared
	// (its own error, empty or garbage answer); the prompt is then judged
	// on the primary alone, and the reference check reports it.
	RefProblem string
	// Cmp is the comparison (nil without a usable reference answer).
	Cmp *Comparison
}

// Runner sends a prompt set to the primary and, optionally, the reference,
// one prompt at a time, and judges each answer.
type Runner struct {
	Primary *Backend
	// Reference is nil when no reference backend is configured.
	Reference     *Backend
	PromptTimeout time.Duration
	MinPrefix     int
}

// Run sends every prompt in order, each with its own deadline, so a hung
// prompt costs PromptTimeout and the rest still run. onResult sees each
// result as soon as it is judged. Run stops early only when ctx ends (a
// SIGTERM); the results so far are returned with ctx's error.
func (r *Runner) Run(ctx context.Context, set *PromptSet, onResult func(Result)) ([]Result, error) {
	results := make([]Result, 0, len(set.Prompts))
	for _, p := range set.Prompts {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		res := r.one(ctx, p)
		if err := ctx.Err(); err != nil {
			// An answer cut short by the signal says nothing about the
			// server; drop it.
			return results, err
		}
		results = append(results, res)
		if onResult != nil {
			onResult(res)
		}
	}
	return results, nil
}

func (r *Runner) one(ctx context.Context, p Prompt) Result {
	res := Result{Prompt: p, Primary: r.Primary.Ask(ctx, p, r.PromptTimeout)}
	res.Reason = Problem(p, res.Primary)
	if r.Reference != nil {
		ref := r.Reference.Ask(ctx, p, r.PromptTimeout)
		res.Reference = &ref
		res.RefProblem = Unusable(ref)
		if res.RefProblem == "" && res.Primary.Err == nil {
			c := Compare(res.Primary, ref)
			res.Cmp = &c
			// A divergence after some agreement is worth reading even when
			// the answer already failed on its own (a looping tail diverges,
			// too); at token 0 it only repeats that failure.
			switch why := PrefixProblem(c, r.MinPrefix); {
			case why == "":
			case res.Reason == "":
				res.Reason = why
			case c.Prefix > 0:
				res.Reason += "; " + why
			}
		}
	}
	res.Pass = res.Reason == ""
	return res
}

// Failed returns the results that did not pass.
func Failed(results []Result) []Result {
	var out []Result
	for _, r := range results {
		if !r.Pass {
			out = append(out, r)
		}
	}
	return out
}
