package drift

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/host/hashcache"
)

func TestCompareFiles(t *testing.T) {
	const head = "0123456789abcdef0123456789abcdef01234567"
	a, b := sum([]byte("a")), sum([]byte("b"))
	notExist := &fs.PathError{Op: "stat", Path: "x", Err: fs.ErrNotExist}
	blobs := map[string]blob{
		"ok":      {Type: "blob", SHA256: a},
		"changed": {Type: "blob", SHA256: a},
		"gone":    {Missing: true},
		"tree":    {Type: "tree"},
	}
	type want struct {
		channel string
		outcome outcome
		summary []string
	}
	tests := []struct {
		name    string
		entries []entry
		hashes  []hashcache.Result
		want    []want
	}{
		{"match", []entry{{Deployed: "/d/ok", Canonical: "ok"}}, []hashcache.Result{{SHA256: a}},
			[]want{{"drifted:/d/ok", outcomePass, nil}}},
		{"drifted names the file and both hashes", []entry{{Deployed: "/d/c", Canonical: "changed"}}, []hashcache.Result{{SHA256: b}},
			[]want{{"drifted:/d/c", outcomeFail, []string{"differs from HEAD 0123456789ab:changed: deployed /d/c sha256 " + b, "committed sha256 " + a}}}},
		{"under $HOME the channel says ~, the summary the full path", []entry{{Deployed: "/home/op/Library/LaunchAgents/a.plist", Canonical: "changed"}},
			[]hashcache.Result{{SHA256: b}},
			[]want{{"drifted:~/Library/LaunchAgents/a.plist", outcomeFail, []string{"deployed /home/op/Library/LaunchAgents/a.plist sha256 " + b}}}},
		{"missing under $HOME", []entry{{Deployed: "/home/op/bin/x.sh", Canonical: "ok"}}, []hashcache.Result{{Err: notExist}},
			[]want{{"deployed_missing:~/bin/x.sh", outcomeFail, []string{"is missing", ": /home/op/bin/x.sh"}}}},
		{"a home-like prefix is not $HOME", []entry{{Deployed: "/home/operator/x", Canonical: "ok"}}, []hashcache.Result{{SHA256: a}},
			[]want{{"drifted:/home/operator/x", outcomePass, nil}}},
		{"deployed missing", []entry{{Deployed: "/d/m", Canonical: "ok"}}, []hashcache.Result{{Err: notExist}},
			[]want{{"deployed_missing:/d/m", outcomeFail, []string{"deployed file is missing (HEAD has 0123456789ab:ok, sha256 " + a + "): /d/m"}}}},
		{"unhashable", []entry{{Deployed: "/d/dir", Canonical: "ok"}}, []hashcache.Result{{Err: fmt.Errorf("hash: %w", hashcache.ErrNotRegular)}},
			[]want{{"drifted:/d/dir", outcomeUnknown, []string{"cannot hash deployed file /d/dir", "not a regular file"}}}},
		{"canonical missing, shared by two", []entry{{Deployed: "/d/1", Canonical: "gone"}, {Deployed: "/d/2", Canonical: "gone"}},
			[]hashcache.Result{{SHA256: a}, {SHA256: a}},
			[]want{{"canonical_missing:gone", outcomeFail, []string{"canonical gone is not in HEAD 0123456789ab of /repo (deployed as /d/1, /d/2)"}}}},
		{"canonical is a directory", []entry{{Deployed: "/d/t", Canonical: "tree"}}, []hashcache.Result{{SHA256: a}},
			[]want{{"canonical_missing:tree", outcomeFail, []string{"canonical tree is a tree, not a file, in HEAD"}}}},
		{"both missing", []entry{{Deployed: "/d/x", Canonical: "gone"}}, []hashcache.Result{{Err: notExist}},
			[]want{
				{"deployed_missing:/d/x", outcomeFail, []string{"deployed file is missing, and so is its canonical gone in HEAD 0123456789ab: /d/x"}},
				{"canonical_missing:gone", outcomeFail, nil},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := compareFiles(tt.entries, "/home/op", head, "/repo", blobs, tt.hashes)
			if len(rep.Findings) != len(tt.want) {
				t.Fatalf("findings = %+v, want %d", rep.Findings, len(tt.want))
			}
			for i, w := range tt.want {
				f := rep.Findings[i]
				if f.Channel != w.channel || f.Outcome != w.outcome {
					t.Errorf("[%d] = %s %v, want %s %v", i, f.Channel, f.Outcome, w.channel, w.outcome)
				}
				if f.Outcome == outcomeFail && f.Severity != alert.Error {
					t.Errorf("[%d] severity %s, want error", i, f.Severity)
				}
				for _, s := range w.summary {
					if !strings.Contains(f.Summary, s) {
						t.Errorf("[%d] summary %q lacks %q", i, f.Summary, s)
					}
				}
			}
		})
	}
}

// checkFiles against a real repository and real files: the committed blob
// is compared, not the working tree, and a second pass reads unchanged
// deployed files from the hash cache.
func TestCheckFilesUsesTheHashCache(t *testing.T) {
	r := newTestRepo(t, "")
	r.write("etc/a.conf", []byte("a=1\n"))
	r.commitAll("a")
	r.write("etc/a.conf", []byte("a=2, uncommitted\n"))
	deployed := filepath.Join(t.TempDir(), "a.conf")
	if err := os.WriteFile(deployed, []byte("a=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	entries := []entry{{Deployed: deployed, Canonical: "etc/a.conf"}}
	cachePath := filepath.Join(t.TempDir(), "cache.json")
	// A clock a minute ahead: the file's ctime is then old enough for the
	// cache to trust its digest (it distrusts files changed in the last
	// two seconds).
	opts := hashcache.Options{Now: func() time.Time { return time.Now().Add(time.Minute) }}

	for pass, wantHits := range []int{0, 1} {
		cache, err := hashcache.Open(cachePath, opts)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := checkFiles(t.Context(), entries, "", &repo{Dir: r.Dir}, cache)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Matching != 1 || len(rep.Findings) != 1 || rep.Findings[0].Outcome != outcomePass {
			t.Fatalf("pass %d: %+v", pass, rep)
		}
		if rep.Cache.Hits != wantHits {
			t.Errorf("pass %d: %d cache hits, want %d", pass, rep.Cache.Hits, wantHits)
		}
		if err := cache.Save(); err != nil {
			t.Fatal(err)
		}
	}
}
