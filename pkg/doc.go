// Package pkg is the root of the shared council-probes packages; the code
// lives in its subpackages (probe, alert, transport, state, lock, launchctl, ...).
package pkg
