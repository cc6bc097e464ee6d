// Package pace is the council's speed probe: is the council as fast as it
// usually is? It measures the time to first token and the decode speed of
// one streamed answer per tick and compares them with a rolling,
// poison-proof baseline per model (see Rules and the comment on the
// baseline's rules).
package pace
