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

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"1. The incidents": "1-the-incidents",
		"4a. One service-manager interface (`pkg/host/service`)":  "4a-one-service-manager-interface-pkghostservice",
		"Running many council hosts: Prometheus and Alertmanager": "running-many-council-hosts-prometheus-and-alertmanager",
		"A [linked](x.md) heading":                                "a-linked-heading",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
	if got := pageAnchors("# A\n## A\n```\n# not a heading\n```\n<a id=\"x\"></a>\n"); !slices.Equal(got, []string{"a", "a-1", "x"}) {
		t.Errorf("pageAnchors = %q", got)
	}
}

func TestLinkChecks(t *testing.T) {
	md := "See [a](docs/DESIGN.md#1-the-incidents), [web](https://example.com), `[not](code.md)`,\n" +
		"```\n[nor](fenced.md)\n```\n[ref]: docs/RELIABILITY.md\n"
	var targets []string
	for _, l := range markdownLinks(md) {
		targets = append(targets, l.target)
	}
	if want := []string{"docs/DESIGN.md#1-the-incidents", "https://example.com", "docs/RELIABILITY.md"}; !slices.Equal(targets, want) {
		t.Errorf("links %q, want %q", targets, want)
	}
	anchors := map[string][]string{"README.md": {"top"}, "docs/DESIGN.md": {"1-the-incidents"}}
	for target, ok := range map[string]bool{
		"docs/DESIGN.md#1-the-incidents": true,
		"#top":                           true,
		"https://example.com/x":          true,
		"docs/":                          true,
		"docs/DESIGN.md#nope":            false,
		"#nope":                          false,
		"docs/nope.md":                   false,
		"../shared/SPEC.md":              false,
		"docs/#x":                        false,
	} {
		if err := checkLink("README.md", target, anchors); (err == nil) != ok {
			t.Errorf("checkLink(%q) = %v, want ok %t", target, err, ok)
		}
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
