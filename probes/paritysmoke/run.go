package paritysmoke

import (
	"context"
	"time"
)

// result is the outcome of one prompt.
type result struct {
	Prompt  prompt
	Pass    bool
	Reason  string
	Primary answer
	// Reference is the reference's answer (nil without a reference).
	Reference *answer
	// RefProblem says why the reference's answer could not be compared
	// (its own error, an empty or garbage answer, a leaked template or a
	// loop); the prompt is then judged on the primary alone, and the
	// reference check reports it.
	RefProblem string
	// Cmp is the comparison (nil without a usable reference answer).
	Cmp *comparison
}

// runner sends a prompt set to the primary and, optionally, the reference,
// one prompt at a time, and judges each answer.
type runner struct {
	Primary *backend
	// Reference is nil when no reference backend is configured.
	Reference     *backend
	PromptTimeout time.Duration
	MinPrefix     int
}

// Run sends every prompt in order, each with its own deadline, so a hung
// prompt costs PromptTimeout and the rest still run. onResult sees each
// result as soon as it is judged. Run stops early only when ctx ends (a
// SIGTERM); the results so far are returned with ctx's error.
func (r *runner) Run(ctx context.Context, set *promptSet, onResult func(result)) ([]result, error) {
	results := make([]result, 0, len(set.Prompts))
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

func (r *runner) one(ctx context.Context, p prompt) result {
	res := result{Prompt: p, Primary: r.Primary.Ask(ctx, p, r.PromptTimeout)}
	res.Reason = problem(p, res.Primary)
	if r.Reference != nil {
		ref := r.Reference.Ask(ctx, p, r.PromptTimeout)
		res.Reference = &ref
		res.RefProblem = usableShape(ref)
		if res.RefProblem == "" && res.Primary.Err == nil {
			c := compare(res.Primary, ref)
			res.Cmp = &c
			// A divergence after some agreement is worth reading even when
			// the answer already failed on its own (a looping tail diverges,
			// too); at token 0 it only repeats that failure.
			switch why := prefixProblem(c, r.MinPrefix); {
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

// failed returns the results that did not pass.
func failed(results []result) []result {
	var out []result
	for _, r := range results {
		if !r.Pass {
			out = append(out, r)
		}
	}
	return out
}
