//go:build !darwin

package alert

import "context"

// NotifyLocal is nil off macOS: there is no local notification centre to
// raise, and the outbox already keeps the alert.
var NotifyLocal func(ctx context.Context, n Notice) error
