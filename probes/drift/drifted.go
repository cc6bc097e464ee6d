package drift

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/host/hashcache"
)

// fileReport is the outcome of the file checks.
type fileReport struct {
	Head     string // the commit compared against
	Findings []finding
	Matching int
	Cache    hashcache.Stats
}

// checkFiles compares every deployed file in entries with its canonical
// copy as committed at HEAD. The error is non-nil only when the comparison
// could not be made at all (no repository, no HEAD, git failing, ctx ended);
// one file's problem is that file's finding.
func checkFiles(ctx context.Context, entries []entry, home string, repo *repo, cache *hashcache.Cache) (*fileReport, error) {
	head, err := repo.Head(ctx)
	if err != nil {
		return nil, err
	}
	var canonicals, deployed []string
	seen := map[string]bool{}
	for _, e := range entries {
		deployed = append(deployed, e.Deployed)
		if !seen[e.Canonical] {
			seen[e.Canonical] = true
			canonicals = append(canonicals, e.Canonical)
		}
	}
	blobs, err := repo.Blobs(ctx, head, canonicals)
	if err != nil {
		return nil, err
	}
	hashes, err := cache.HashFiles(ctx, deployed)
	if err != nil {
		return nil, fmt.Errorf("hash deployed files: %w", err)
	}
	rep := compareFiles(entries, home, head, repo.Dir, blobs, hashes)
	rep.Cache = cache.Stats()
	return rep, nil
}

// compareFiles turns the committed blobs and the deployed files' hashes
// (hashes[i] belongs to entries[i]) into findings: one per deployed file on
// drifted or deployed_missing, and one per canonical path absent from HEAD.
// A deployed file's channel is named by FileSubject; its summary (the alert
// message) and its event's fields keep the full paths and both sums.
func compareFiles(entries []entry, home, head, repoDir string, blobs map[string]blob, hashes []hashcache.Result) *fileReport {
	rep := &fileReport{Head: head}
	short := shortID(head)
	type missingCanonical struct {
		blob     blob
		deployed []any
	}
	var missingOrder []string
	missing := map[string]*missingCanonical{}

	for i, e := range entries {
		b, h := blobs[e.Canonical], hashes[i]
		name := fileSubject(e.Deployed, home)
		committed := fmt.Sprintf("%s:%s", short, e.Canonical)
		inHead := !b.Missing && b.Type == "blob"
		if !inHead {
			m := missing[e.Canonical]
			if m == nil {
				m = &missingCanonical{blob: b}
				missing[e.Canonical] = m
				missingOrder = append(missingOrder, e.Canonical)
			}
			m.deployed = append(m.deployed, e.Deployed)
		}
		switch {
		case errors.Is(h.Err, fs.ErrNotExist):
			summary := fmt.Sprintf("deployed file is missing (HEAD has %s, sha256 %s): %s", committed, b.SHA256, e.Deployed)
			if !inHead {
				summary = fmt.Sprintf("deployed file is missing, and so is its canonical %s in HEAD %s: %s", e.Canonical, short, e.Deployed)
			}
			rep.Findings = append(rep.Findings, fail(channel(CheckDeployedMissing, name), CheckDeployedMissing, alert.Error, summary,
				"deployed", e.Deployed, "canonical", e.Canonical, "head", head, "canonical_sha256", b.SHA256))
		case h.Err != nil:
			rep.Findings = append(rep.Findings, unknown(channel(CheckDrifted, name), "hash_error",
				fmt.Sprintf("cannot hash deployed file %s: %v", e.Deployed, h.Err),
				"deployed", e.Deployed, "canonical", e.Canonical))
		case !inHead:
			// Nothing to compare with: canonical_missing below says so.
		case h.SHA256 == b.SHA256:
			rep.Matching++
			rep.Findings = append(rep.Findings, pass(channel(CheckDrifted, name), "deploy_matches",
				"deployed", e.Deployed, "canonical", e.Canonical, "head", head, "sha256", h.SHA256, "cached", h.FromCache))
		default:
			// The reason first: the status line and a narrow screen show
			// the start of a summary; the paths and sums follow for the
			// alert.
			rep.Findings = append(rep.Findings, fail(channel(CheckDrifted, name), CheckDrifted, alert.Error,
				fmt.Sprintf("differs from HEAD %s: deployed %s sha256 %s, committed sha256 %s", committed, e.Deployed, h.SHA256, b.SHA256),
				"deployed", e.Deployed, "canonical", e.Canonical, "head", head,
				"deployed_sha256", h.SHA256, "canonical_sha256", b.SHA256, "deployed_size", h.Size, "canonical_size", b.Size))
		}
	}
	for _, c := range missingOrder {
		m := missing[c]
		what := "is not in"
		if !m.blob.Missing {
			what = fmt.Sprintf("is a %s, not a file, in", m.blob.Type)
		}
		rep.Findings = append(rep.Findings, fail(channel(CheckCanonicalMissing, c), CheckCanonicalMissing, alert.Error,
			fmt.Sprintf("canonical %s %s HEAD %s of %s (deployed as %s)", c, what, short, repoDir, joinAny(m.deployed)),
			"canonical", c, "head", head, "repo", repoDir, "deployed", m.deployed))
	}
	return rep
}

// shortID abbreviates a commit id for messages.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func joinAny(vs []any) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(v)
	}
	return s
}
