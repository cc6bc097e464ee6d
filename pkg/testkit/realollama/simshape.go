package realollama

import (
	"context"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

// KnownSimDifferences are the shape differences between Ollama and the
// simulator's Ollama personality that are deliberate, each with why. A
// line is ShapeDiff's: "file: path: real kinds, sim kinds". There are
// none: every difference found was the simulator's mistake, and fixed.
var KnownSimDifferences = map[string]string{}

// SimRecording records the simulator's Ollama personality serving model,
// as Record records a real server.
func SimRecording(t testing.TB, model string) Recording {
	t.Helper()
	sim := councilsim.New(councilsim.Config{
		Models:      []string{model},
		Personality: councilsim.PersonalityConfig{Personality: councilsim.PersonalityOllama},
	})
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, err := Record(ctx, sim.PlainURL(), model)
	if err != nil {
		t.Fatalf("record the simulator: %v", err)
	}
	return rec
}

// CheckSimShape fails t for every shape difference between real (a
// recording of Ollama) and the simulator's Ollama personality that
// KnownSimDifferences does not list, and for every listed one that no
// longer occurs.
func CheckSimShape(t testing.TB, real Recording) {
	t.Helper()
	unexpected, stale, err := ShapeDiff(real, SimRecording(t, "tiny:latest"), "real", "sim", KnownSimDifferences)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range unexpected {
		t.Errorf("the simulator's Ollama differs from Ollama %s: %s", Version, d)
	}
	for _, d := range stale {
		t.Errorf("KnownSimDifferences lists a difference that no longer occurs: %s", d)
	}
}
