//go:build !darwin

package deliver

import (
	"context"

	"github.com/sanctum/council-probes/pkg/core/alert"
)

// NotifyLocal is nil off macOS: there is no local notification centre to
// raise, and the outbox already keeps the alert.
var NotifyLocal func(ctx context.Context, n alert.Notice) error
