package alert

import "time"

// ForceFlowPayload is the body of Force Flow's POST /notify. It lives here,
// with the other alert types, so the Force Flow stand-in and tests can speak
// the wire format without linking the HTTP senders (package deliver).
type ForceFlowPayload struct {
	Source        string   `json:"source"`
	Severity      Severity `json:"severity"`
	Title         string   `json:"title"`
	Message       string   `json:"message"`
	ForceChannels []string `json:"force_channels,omitempty"`
}

// AlertmanagerAlert is one element of the body of Alertmanager's
// POST /api/v2/alerts (and of its GET answer).
type AlertmanagerAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}
