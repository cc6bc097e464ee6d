package drift

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitEnv isolates test git commands from the user's and system's git
// configuration and gives commits a fixed identity.
func gitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=drift test", "GIT_AUTHOR_EMAIL=drift@test.invalid",
		"GIT_COMMITTER_NAME=drift test", "GIT_COMMITTER_EMAIL=drift@test.invalid",
	)
}

// testRepo is a real git repository in a temporary directory.
type testRepo struct {
	t   testing.TB
	Dir string
}

func newTestRepo(t testing.TB, dir string) *testRepo {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	r := &testRepo{t: t, Dir: dir}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.Dir}, args...)...)
	cmd.Env = gitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (r *testRepo) write(rel string, content []byte) {
	r.t.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *testRepo) commitAll(msg string) {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestRepoHeadAndBlobs(t *testing.T) {
	r := newTestRepo(t, "")
	repo := &repo{Dir: r.Dir}
	if _, err := repo.Head(t.Context()); err == nil || !strings.Contains(err.Error(), "no commit yet") {
		t.Fatalf("Head of an empty repo: %v", err)
	}

	big := make([]byte, 3<<20+17) // larger than any pipe or read buffer
	for i := range big {
		big[i] = byte(i * 7)
	}
	files := map[string][]byte{
		"a.txt":                  []byte("alpha\n"),
		"empty":                  {},
		"dir/with space.plist":   []byte("<plist/>"),
		"colon:in/name":          []byte("c"),
		"no-newline-at-end":      []byte("x"),
		"bin/sanctum-mlx":        big,
		"dir/nested/deep/file.y": []byte("k: v\n"),
	}
	for p, c := range files {
		r.write(p, c)
	}
	r.commitAll("first")
	// Uncommitted edits and untracked files must not change what is read.
	r.write("a.txt", []byte("edited, not committed\n"))
	r.write("untracked", []byte("u"))

	head, err := repo.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(r.git("rev-parse", "HEAD")); head != want {
		t.Fatalf("Head = %s, want %s", head, want)
	}
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	paths = append(paths, "untracked", "nope/missing", "dir", "dir/nested")
	blobs, err := repo.Blobs(t.Context(), head, paths)
	if err != nil {
		t.Fatal(err)
	}
	for p, c := range files {
		t.Run(p, func(t *testing.T) {
			b := blobs[p]
			if b.Missing || b.Type != "blob" || b.SHA256 != sum(c) || b.Size != int64(len(c)) {
				t.Errorf("blob = %+v, want sha256 %s size %d", b, sum(c), len(c))
			}
		})
	}
	for _, p := range []string{"untracked", "nope/missing"} {
		if !blobs[p].Missing {
			t.Errorf("%s: %+v, want missing", p, blobs[p])
		}
	}
	for _, p := range []string{"dir", "dir/nested"} {
		if b := blobs[p]; b.Missing || b.Type != "tree" {
			t.Errorf("%s: %+v, want a tree", p, b)
		}
	}
}

func TestRepoErrors(t *testing.T) {
	notRepo := t.TempDir()
	tests := []struct {
		name string
		repo *repo
		want string
	}{
		{"not a repository", &repo{Dir: notRepo}, "not a git repository"},
		{"missing directory", &repo{Dir: filepath.Join(notRepo, "gone")}, "exit 128"},
		{"no git binary", &repo{Dir: notRepo, Git: filepath.Join(notRepo, "no-git")}, "no-git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.repo.Head(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRepoDirty(t *testing.T) {
	r := newTestRepo(t, "")
	for _, p := range []string{"a", "b", "c", "d", "sub/e", ":magic", "*"} {
		r.write(p, []byte(p))
	}
	r.commitAll("base")
	repo := &repo{Dir: r.Dir}
	specs := []string{"a", "b", "c", "d", "sub/e", "new", ":magic", "*"}

	got, err := repo.Dirty(t.Context(), specs)
	if err != nil || len(got) != 0 {
		t.Fatalf("clean repo: %v %v", got, err)
	}

	r.write("a", []byte("unstaged"))
	r.write("b", []byte("staged"))
	r.git("add", "b")
	r.git("mv", "c", "renamed-c") // a rename out of the watched set
	r.write("new", []byte("untracked"))
	r.write("unwatched", []byte("untracked but not canonical"))
	r.write(":magic", []byte("literal pathspec"))

	got, err = repo.Dirty(t.Context(), specs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"a": true, "b": true, "c": true, "new": true, ":magic": true}
	if len(got) != len(want) {
		t.Errorf("dirty = %q, want %v", got, want)
	}
	for _, p := range got {
		if !want[p] {
			t.Errorf("unexpected dirty path %q (got %q)", p, got)
		}
	}
}

func TestParsePorcelainZ(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		bad  bool
	}{
		{"empty", "", nil, false},
		{"modified and untracked", " M a\x00?? dir/b c\x00", []string{"a", "dir/b c"}, false},
		{"rename carries its source", "R  new\x00old\x00 M x\x00", []string{"new", "x"}, false},
		{"copy", "C  copy\x00orig\x00", []string{"copy"}, false},
		{"garbage", "nonsense\x00", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePorcelainZ([]byte(tt.in))
			if tt.bad {
				if err == nil {
					t.Fatalf("want an error, got %q", got)
				}
				return
			}
			if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
