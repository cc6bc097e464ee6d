package suite

// Channels one probe shares with another, named once: a probe that reads
// another's state file looks for these names there, and the probes that
// raise the same event report it on the same channel, so an operator sees
// one notice whichever probe raised it. (Each probe's other channels are
// its own package's Check constants; the contract's are pkg/probe's.)
const (
	// CheckHang and CheckStreamStall are the canary's channels that mean
	// chat does not answer: the guardian reads them from the canary's
	// state (its wedged check).
	CheckHang        = "hang"
	CheckStreamStall = "stream_stall"
	// CheckFallbackActivated and CheckFallbackDown are the promotion's
	// channels: the guardian's, and integrity's when it promotes.
	CheckFallbackActivated = "fallback_activated"
	CheckFallbackDown      = "fallback_down"
)
