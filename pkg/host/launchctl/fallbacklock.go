package launchctl

import "github.com/sanctum/council-probes/pkg/host/service"

// The fallback lock is pkg/host/service's, shared by both managers; these
// names keep launchctl's callers as they were.
type FallbackLock = service.FallbackLock

// ReadFallbackLock and FallbackLockExists: see pkg/host/service.
var (
	ReadFallbackLock   = service.ReadFallbackLock
	FallbackLockExists = service.FallbackLockExists
)

// The steps of a launchd promotion, in order, as recorded in
// FallbackLock.Step: each names the last step that completed.
const (
	StepLocked               = service.StepLocked // the lock is written; launchd not touched yet
	StepPrimaryBootedOut     = "primary_booted_out"
	StepPrimaryDisabled      = "primary_disabled"
	StepFallbackEnabled      = "fallback_enabled"
	StepFallbackBootstrapped = "fallback_bootstrapped"
	StepFallbackStarted      = "fallback_started" // kickstarted; verify follows
	StepDone                 = service.StepDone
)
