package integration

import (
	"slices"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/core/suite"
)

func TestFlagMentions(t *testing.T) {
	md := "Prose names `--deadline`, and --stream bare.\n" +
		"A span runs another: `council-guardian --wedged-after 2`, `systemctl --user`,\n" +
		"and one over a line break: `council-pace\n--warmup 6`.\n\n" +
		"```sh\n" +
		"HOME=$h bin/council-canary --url $url \\\n" +
		"  --expect 4 | jq -c --arg x y\n" +
		"sudo council-units polkit --primary ollama\n" +
		"```\n" +
		"<!-- flags: council-x -->\n| `--generated` |\n<!-- end flags -->\n"
	var got []string
	for _, m := range flagMentions(md) {
		got = append(got, m.command+" "+m.flag)
	}
	want := []string{
		" deadline", "council-guardian wedged-after", "systemctl user", " stream",
		"council-pace warmup",
		"council-canary url", "council-canary expect", "jq arg",
		"council-units primary",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("mentions\n  %q\nwant\n  %q", got, want)
	}
}

func TestProbePageShapeRejects(t *testing.T) {
	p, _ := suite.Lookup("canary")
	good := "# council-canary\n\nRuns every 10m.\n\n## What it asks\n## Channels\n## What it changes\n## Exit codes\n## The incident\n## Flags\n"
	if err := checkProbePageShape(good, p); err != nil {
		t.Fatalf("a well-shaped page: %v", err)
	}
	for name, page := range map[string]string{
		"title":    strings.Replace(good, "# council-canary", "# canary", 1),
		"schedule": strings.Replace(good, "every 10m", "every ten minutes", 1),
		"order":    strings.Replace(strings.Replace(good, "## Channels\n", "", 1), "## Flags\n", "## Flags\n## Channels\n", 1),
		"missing":  strings.Replace(good, "## The incident\n", "", 1),
		"extra":    good + "## Notes\n",
	} {
		if err := checkProbePageShape(page, p); err == nil {
			t.Errorf("%s: a misshapen page passed:\n%s", name, page)
		}
	}
}
