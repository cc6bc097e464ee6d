package openai

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestTimingsSafeWhenCancelledAnywhere cancels requests at random points,
// many times, and reads every stage of the Timings as soon as the call
// returns. The transport's trace callbacks run on its own goroutines and
// may fire after Do has returned (a cancelled request's read loop still
// sees its first byte); under -race, a callback that wrote the caller's
// Timings then is a data race.
func TestTimingsSafeWhenCancelledAnywhere(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		// The header comes after a random short wait, so the cancel lands
		// before, while and after it arrives.
		select {
		case <-time.After(time.Duration(rand.IntN(1500)) * time.Microsecond):
		case <-r.Context().Done():
			return
		}
		if r.URL.Path == ModelsPath {
			raw(200, "application/json", `{"data":[{"id":"m"}]}`)(w, r)
			return
		}
		sse(100*time.Microsecond,
			"data: {\"choices\":[{\"delta\":{\"content\":\"1\"}}]}\n\n",
			"data: {\"choices\":[{\"delta\":{\"content\":\" 2\"}}]}\n\n",
			"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
			"data: [DONE]\n\n")(w, r)
	})
	c := client(t, url)
	read := func(tm Timings) time.Duration {
		// Every field, as a caller would.
		return tm.TTFB() + tm.TTFT() + tm.Total() + tm.Decode() + tm.Connected.Sub(tm.Start) + tm.FirstContent.Sub(tm.Start)
	}
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 23))
			for i := range rounds {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(time.Duration(rng.IntN(2000))*time.Microsecond, cancel)
				switch i % 3 {
				case 0:
					res, _ := c.ChatStream(ctx, UserPrompt("m", "count", 4))
					read(res.Timings)
				case 1:
					res, _ := c.Chat(ctx, UserPrompt("m", "count", 4))
					read(res.Timings)
				case 2:
					m, _ := c.ListModels(ctx)
					read(m.Timings)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
}
