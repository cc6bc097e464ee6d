//go:build real

package real

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
	"github.com/sanctum/council-probes/pkg/testkit/realollama"
)

// The binaries, built (or, for Ollama, found in the cache) once in TestMain.
var (
	ollamaBin    string
	launchctlBin string
	probeBins    = map[string]*string{}
)

func TestMain(m *testing.M) {
	opts := []probetest.Option{probetest.FakeLaunchctl(&launchctlBin)}
	// Every probe of the registry; each must have a test here that runs
	// it (TestEveryProbeRunsHere).
	for _, p := range suite.Probes {
		out := new(string)
		probeBins[p.Name] = out
		dir := strings.ReplaceAll(p.Name, "-", "")
		opts = append(opts, probetest.Binary{Out: out, Pkg: "github.com/sanctum/council-probes/probes/" + dir + "/cmd/" + p.Binary(), Name: p.Binary()})
	}
	opts = append(opts, probetest.Setup(func(string) error {
		// The first run on a machine builds Ollama (minutes); later runs
		// find it in the cache. A machine that cannot build it fails here,
		// loudly, with what it lacks.
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
		defer cancel()
		bin, err := realollama.Binary(ctx, realollama.Version, os.Stderr)
		if err != nil {
			return fmt.Errorf("the real tier needs Ollama %s and cannot have it: %w", realollama.Version, err)
		}
		ollamaBin = bin
		return nil
	}))
	probetest.RunMain(m, opts...)
}
