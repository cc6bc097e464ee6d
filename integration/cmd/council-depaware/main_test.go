package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A list written by -update reads back the same, budget and forbids kept.
func TestListRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), listFile)
	want := list{budget: 4_600_000, forbid: []string{"net/http", "crypto/tls"}, deps: []string{"bufio", "github.com/urfave/cli/v2", "os"}}
	if err := writeList(path, "council-status", want); err != nil {
		t.Fatal(err)
	}
	got, err := readList(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.budget != want.budget || !slices.Equal(got.forbid, want.forbid) || !slices.Equal(got.deps, want.deps) {
		t.Fatalf("read back %+v, want %+v", got, want)
	}
	os.WriteFile(path, []byte("size-budget lots\n"), 0o644)
	if _, err := readList(path); err == nil || !strings.Contains(err.Error(), ":1: size-budget") {
		t.Errorf("a bad budget must be an error naming the line, got %v", err)
	}
}

func TestDiff(t *testing.T) {
	added, removed := diff([]string{"a", "b", "c"}, []string{"b", "c", "d"})
	if !slices.Equal(added, []string{"d"}) || !slices.Equal(removed, []string{"a"}) {
		t.Fatalf("added %v removed %v", added, removed)
	}
}

// The chain names how a forbidden package is reached from the main package.
func TestChain(t *testing.T) {
	imports := map[string][]string{
		"example.com/status/cmd/council-status": {"example.com/status", "os"},
		"example.com/status":                    {"example.com/pkg/alert/deliver", "os"},
		"example.com/pkg/alert/deliver":         {"net/http"},
		"net/http":                              {"os"},
		"os":                                    nil,
	}
	got := strings.Join(chain("./status/cmd/council-status", "net/http", imports), " -> ")
	want := "example.com/status/cmd/council-status -> example.com/status -> example.com/pkg/alert/deliver -> net/http"
	if got != want {
		t.Errorf("chain %q, want %q", got, want)
	}
}

// A new binary's budget is its size plus 10%, never past the 10 MB target.
func TestNewBudget(t *testing.T) {
	for size, want := range map[int64]int64{4_210_850: 4_700_000, 9_203_977: 9_900_000, 12_000_000: 9_900_000} {
		if got := newBudget(size); got != want {
			t.Errorf("newBudget(%d) = %d, want %d", size, got, want)
		}
	}
}

func TestTestkitLinks(t *testing.T) {
	sim := "github.com/sanctum/council-probes/pkg/testkit/councilsim"
	imports := map[string][]string{
		"github.com/sanctum/council-probes/probes/pace/cmd/council-pace": {"github.com/sanctum/council-probes/probes/pace"},
		"github.com/sanctum/council-probes/probes/pace":                  {sim},
	}
	deps := []string{"github.com/sanctum/council-probes/probes/pace", sim}
	got := testkitLinks("./probes/pace/cmd/council-pace", deps, imports)
	if len(got) != 1 || !strings.Contains(got[0], sim) || !strings.Contains(got[0], "probes/pace -> "+sim) {
		t.Errorf("a probe linking the simulator: got %q, want one problem naming it and its chain", got)
	}
	if got := testkitLinks("./pkg/testkit/councilsim/cmd/council-sim", deps, imports); len(got) != 0 {
		t.Errorf("the simulator's own binary: got %q, want none", got)
	}
	if got := testkitLinks("./probes/pace/cmd/council-pace", deps[:1], imports); len(got) != 0 {
		t.Errorf("a probe without the test kit: got %q, want none", got)
	}
}
