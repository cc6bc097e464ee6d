package canary

import (
	"context"
	"time"
)

// residencyTimeout bounds the question "is the model loaded?".
const residencyTimeout = 5 * time.Second

// A cold model is not a hung server. Ollama unloads a model after 5 idle
// minutes by default, shorter than the canary's 10, so on a default Ollama
// the canary's question often loads the weights first. Where the backend
// says which models are loaded, a model that is not loaded before the
// question gets --load-allowance more on both the deadline and the
// time-to-first-byte limit, and the result says so (cold, load_allowance_ms;
// a hang in spite of it says the allowance was given). Where the backend
// cannot say (generic), the limits stay as set.

// cold asks whether res.Model is loaded and records a cold start.
func (c *canary) cold(ctx context.Context, res *result) bool {
	if c.Resident == nil || c.LoadAllowance <= 0 {
		return false
	}
	resident, known := c.Resident(ctx, res.Model)
	if !known || resident {
		return false
	}
	res.Cold, res.LoadAllowance = true, c.LoadAllowance
	return true
}
