package drift

import (
	"context"
	"fmt"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/alert"
)

// checkRepoDirty reports uncommitted changes under the canonical paths on
// the repo_dirty channel, at info and never higher: a dirty tree on the
// council host usually means a session is mid-edit. The file checks read
// only HEAD, so a real drift still alerts on its own channel; letting this
// chronic, expected condition share an escalation track with it is how the
// seed's drift alerts came to be filtered as noise.
func checkRepoDirty(ctx context.Context, repo *repo, entries []entry) (finding, error) {
	var paths []string
	seen := map[string]bool{}
	for _, e := range entries {
		if !seen[e.Canonical] {
			seen[e.Canonical] = true
			paths = append(paths, e.Canonical)
		}
	}
	dirty, err := repo.Dirty(ctx, paths)
	if err != nil {
		return finding{}, err
	}
	if len(dirty) == 0 {
		return pass(CheckRepoDirty, "repo_clean", "repo", repo.Dir, "paths", len(paths)), nil
	}
	shown := dirty
	if len(shown) > 10 {
		shown = shown[:10]
	}
	summary := fmt.Sprintf("%d canonical file(s) with uncommitted changes in %s: %s", len(dirty), repo.Dir, strings.Join(shown, ", "))
	if len(dirty) > len(shown) {
		summary += fmt.Sprintf(" and %d more", len(dirty)-len(shown))
	}
	return fail(CheckRepoDirty, CheckRepoDirty, alert.Info, summary, "repo", repo.Dir, "files", dirty), nil
}
