package realollama

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// fakeGo is a go command that does what the build asks of the real one,
// in miniature: `mod download -json` names a module directory holding
// miniaudio.h, and `install` checks that miniaudio.h was put where
// CGO_CPPFLAGS points, then writes an "ollama" into GOBIN that prints the
// version passed with -X. FAKE_GO_FAIL makes install fail like a build
// without the nlohmann headers.
const fakeGo = `log="$(dirname "$0")/installs"
case "$1" in
mod)
	printf '{"Path":"github.com/gen2brain/malgo","Version":"v0.11.24","Dir":"%s"}\n' "$(dirname "$0")/malgo"
	;;
install)
	echo "$*" >> "$log"
	if [ -n "$FAKE_GO_FAIL" ]; then
		echo "json-schema-to-grammar.h:3:10: fatal error: nlohmann/json_fwd.hpp: No such file or directory" >&2
		exit 1
	fi
	inc=${CGO_CPPFLAGS#-I}
	inc=${inc%% *}
	[ -f "$inc/miniaudio/miniaudio.h" ] || { echo "miniaudio.h not in $inc" >&2; exit 1; }
	v=${3##*=}
	mkdir -p "$GOBIN"
	printf '#!/bin/sh\necho "Warning: could not connect to a running Ollama instance"\necho "Warning: client version is %s"\n' "$v" > "$GOBIN/ollama"
	chmod 755 "$GOBIN/ollama"
	;;
*)
	echo "fake go: $*" >&2
	exit 2
	;;
esac
`

// fakeToolchain puts the fake go, gcc and g++ first on PATH and returns a
// Builder using them with a fresh cache and an include dir with the
// headers.
func fakeToolchain(t *testing.T) (*Builder, string) {
	t.Helper()
	bin := t.TempDir()
	probetest.WriteScript(t, bin, "go", fakeGo)
	probetest.WriteScript(t, bin, "gcc", "exit 0\n")
	probetest.WriteScript(t, bin, "g++", "exit 0\n")
	if err := os.MkdirAll(filepath.Join(bin, "malgo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "malgo", "miniaudio.h"), []byte("/* miniaudio */\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inc := t.TempDir()
	for _, h := range headers {
		p := filepath.Join(inc, h.path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return &Builder{Go: "go", Dir: t.TempDir(), Log: &bytes.Buffer{}, IncludeDirs: []string{inc}}, bin
}

func installs(t *testing.T, bin string) []string {
	b, err := os.ReadFile(filepath.Join(bin, "installs"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestBinaryBuildsOnceThenUsesTheCache(t *testing.T) {
	b, bin := fakeToolchain(t)
	ctx := context.Background()
	path, err := b.Binary(ctx, "0.17.4")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(b.Dir, "0.17.4", "ollama"); path != want {
		t.Fatalf("path %s, want %s", path, want)
	}
	got := installs(t, bin)
	want := "install -ldflags -X github.com/ollama/ollama/version.Version=0.17.4 github.com/ollama/ollama@v0.17.4"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("go invocations %q, want one %q", got, want)
	}
	if v, err := BinaryVersion(ctx, path); err != nil || v != "0.17.4" {
		t.Fatalf("the cached binary reports %q, %v", v, err)
	}
	again, err := b.Binary(ctx, "0.17.4")
	if err != nil || again != path {
		t.Fatalf("second call: %s, %v", again, err)
	}
	if n := len(installs(t, bin)); n != 1 {
		t.Fatalf("the second call built again (%d installs)", n)
	}
	// Another version is another build, beside the first.
	if _, err := b.Binary(ctx, "0.18.0"); err != nil {
		t.Fatal(err)
	}
	if n := len(installs(t, bin)); n != 2 {
		t.Fatalf("%d installs after a second version, want 2", n)
	}
	leftovers, _ := filepath.Glob(filepath.Join(b.Dir, "*", ".build-*"))
	if len(leftovers) != 0 {
		t.Fatalf("build directories left behind: %v", leftovers)
	}
}

func TestConcurrentCallersBuildOnce(t *testing.T) {
	b, bin := fakeToolchain(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.Binary(context.Background(), "0.17.4")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(installs(t, bin)); n != 1 {
		t.Fatalf("%d builds for 4 concurrent callers, want 1", n)
	}
}

func TestAFailedBuildSaysWhyAndLeavesNoBinary(t *testing.T) {
	b, _ := fakeToolchain(t)
	t.Setenv("FAKE_GO_FAIL", "1")
	_, err := b.Binary(context.Background(), "0.17.4")
	if err == nil || !strings.Contains(err.Error(), "nlohmann/json_fwd.hpp: No such file") {
		t.Fatalf("error %v, want the build's own words", err)
	}
	if _, serr := os.Stat(filepath.Join(b.Dir, "0.17.4", "ollama")); !os.IsNotExist(serr) {
		t.Fatalf("a failed build left a binary: %v", serr)
	}
	leftovers, _ := filepath.Glob(filepath.Join(b.Dir, "0.17.4", ".build-*"))
	if len(leftovers) != 0 {
		t.Fatalf("build directories left behind: %v", leftovers)
	}
}

func TestAWrongCachedBinaryIsAnErrorNotUsed(t *testing.T) {
	b, bin := fakeToolchain(t)
	dir := filepath.Join(b.Dir, "0.17.4")
	os.MkdirAll(dir, 0o755)
	probetest.WriteScript(t, dir, "ollama", "echo 'Warning: client version is 0.0.0'\n")
	_, err := b.Binary(context.Background(), "0.17.4")
	if err == nil || !strings.Contains(err.Error(), `"0.0.0"`) || !strings.Contains(err.Error(), "remove it to rebuild") {
		t.Fatalf("error %v, want the wrong version named and the way out", err)
	}
	if n := len(installs(t, bin)); n != 0 {
		t.Fatalf("a wrong cached binary was rebuilt over (%d installs)", n)
	}
}

func TestMissingPrerequisitesAreNamed(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	b := &Builder{Go: "go", Dir: t.TempDir(), Log: &bytes.Buffer{}, IncludeDirs: []string{t.TempDir()}}
	_, err := b.Binary(context.Background(), "0.17.4")
	if err == nil {
		t.Fatal("a machine without go, compilers or headers built Ollama")
	}
	for _, want := range []string{"cannot build Ollama 0.17.4", "go (not on PATH)", "gcc", "g++",
		"apt-get install nlohmann-json3-dev", "apt-get install libstb-dev"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestBadVersionIsRefused(t *testing.T) {
	b := &Builder{Go: "go", Dir: t.TempDir(), Log: &bytes.Buffer{}}
	for _, v := range []string{"", "../x", "0.1 2", ".hidden"} {
		if _, err := b.Binary(context.Background(), v); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
}

func TestCacheDir(t *testing.T) {
	t.Setenv(EnvCacheDir, "")
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if d, err := CacheDir(); err != nil || d != "/x/cache/council-probes/ollama" {
		t.Fatalf("CacheDir = %s, %v", d, err)
	}
	t.Setenv(EnvCacheDir, "/y/ollama")
	if d, err := CacheDir(); err != nil || d != "/y/ollama" {
		t.Fatalf("CacheDir with %s = %s, %v", EnvCacheDir, d, err)
	}
}
