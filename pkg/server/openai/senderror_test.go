package openai

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSendError: a request that got no response header is a hang when it
// had connected and unreachable when not, named by the limit that ended
// it; a cancellation from outside determined nothing.
func TestSendError(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	c := &Client{Limits: Limits{TTFB: 45 * time.Second}}
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		cause  error
		conn   bool
		class  Class
		limit  Limit
		detail string
	}{
		{"cancelled from outside", cancelled, context.Canceled, true, Unreachable, "", "cancelled"},
		{"deadline, connected", expired, context.DeadlineExceeded, true, Hang, LimitDeadline, "no response within the deadline"},
		{"deadline, not connected", expired, context.DeadlineExceeded, false, Unreachable, LimitDeadline, "could not connect within the deadline"},
		{"ttfb, connected", live, errTTFB, true, Hang, LimitTTFB, "connected and sent the request, but no response header within 45s (time-to-first-byte limit)"},
		{"ttfb, not connected", live, errTTFB, false, Unreachable, LimitTTFB, "could not connect within 45s"},
		{"refused", live, nil, false, Unreachable, "", "dial tcp 127.0.0.1:1: connect: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := c.sendError(tc.ctx, "POST /v1/chat/completions", refused, tc.cause, tc.conn)
			if e.Class != tc.class || e.Limit != tc.limit || e.Detail != tc.detail || e.Op != "POST /v1/chat/completions" {
				t.Fatalf("= %+v; want class %s, limit %q, detail %q", e, tc.class, tc.limit, tc.detail)
			}
		})
	}
}
