package realollama

import (
	"testing"
)

// fixtureDir holds the answers the real tier recorded from Ollama.
const fixtureDir = "../../server/backend/testdata/ollama/real-" + Version

// TestSimulatorShapeMatchesRealOllama compares what the simulator's
// Ollama personality answers with what Ollama answered when the real tier
// recorded it: every key and every value's type, recursively, on every
// endpoint the probes read. It runs in make test, without the build; make
// test-real makes the same comparison against a live Ollama.
func TestSimulatorShapeMatchesRealOllama(t *testing.T) {
	real, err := LoadRecording(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	CheckSimShape(t, real)
}
