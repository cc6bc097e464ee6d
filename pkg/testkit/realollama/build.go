package realollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/lock"
)

// Version is the Ollama release the real tier builds and runs.
const Version = "0.17.4"

// EnvCacheDir overrides where built binaries are kept.
const EnvCacheDir = "COUNCIL_OLLAMA_CACHE"

// The build's facts, found on Debian (trixie) with Go 1.26; each is
// checked before the build so that a machine that cannot build says why.
//
// Go drops vendor/ directories from module downloads, and Ollama's
// llama.cpp sources include header-only libraries from there: nlohmann/json
// (llama/sampling_ext.cpp, llama.cpp/common/json-schema-to-grammar.h), stb
// and miniaudio (llama.cpp/tools/mtmd/mtmd-helper.cpp). Debian ships the
// first two (nlohmann-json3-dev, libstb-dev); miniaudio.h comes from a Go
// module that vendors it, github.com/gen2brain/malgo. Without
// -X version.Version the binary reports 0.0.0 on /api/version.
const (
	ollamaModule = "github.com/ollama/ollama"
	malgoModule  = "github.com/gen2brain/malgo@v0.11.24"
)

// headers are the system headers the build needs, with the Debian
// package that provides each.
var headers = []struct{ path, pkg string }{
	{"nlohmann/json_fwd.hpp", "nlohmann-json3-dev"},
	{"stb/stb_image.h", "libstb-dev"},
}

// includeDirs are where headers are looked for: the compilers' defaults.
var includeDirs = []string{"/usr/include", "/usr/local/include"}

// CacheDir is where Binary keeps its builds: $COUNCIL_OLLAMA_CACHE, else
// ${XDG_CACHE_HOME:-~/.cache}/council-probes/ollama. It is outside any
// clone, so a fresh clone on the same machine reuses the build.
func CacheDir() (string, error) {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("ollama cache dir: %w (set %s)", err, EnvCacheDir)
	}
	return filepath.Join(d, "council-probes", "ollama"), nil
}

// Builder builds Ollama from its Go module. The zero value is not
// usable; DefaultBuilder has the real defaults.
type Builder struct {
	// Go is the go command.
	Go string
	// Dir is the cache directory (CacheDir).
	Dir string
	// Log receives the build's output (go's progress and errors).
	Log io.Writer
	// IncludeDirs are where the header-only libraries are looked for;
	// nil means the compilers' defaults (/usr/include, /usr/local/include).
	IncludeDirs []string
}

// DefaultBuilder builds with the go on PATH into CacheDir, logging to log.
func DefaultBuilder(log io.Writer) (*Builder, error) {
	dir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	return &Builder{Go: "go", Dir: dir, Log: log}, nil
}

// Binary returns the path of an ollama binary of version (e.g. "0.17.4"),
// building it first when the cache has none: the first call on a machine
// takes minutes, later ones are instant. Concurrent callers (two test
// processes) wait for one build under a file lock; the binary is built
// under a temporary name and renamed into place, so a killed build never
// leaves half a binary behind.
func Binary(ctx context.Context, version string, log io.Writer) (string, error) {
	b, err := DefaultBuilder(log)
	if err != nil {
		return "", err
	}
	return b.Binary(ctx, version)
}

// Binary is the package's Binary with b's settings.
func (b *Builder) Binary(ctx context.Context, version string) (string, error) {
	if version == "" || strings.ContainsAny(version, "/\\ ") || strings.HasPrefix(version, ".") {
		return "", fmt.Errorf("ollama build: bad version %q", version)
	}
	dir := filepath.Join(b.Dir, version)
	bin := filepath.Join(dir, "ollama")
	if ok, err := b.works(ctx, bin, version); ok || err != nil {
		return bin, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("ollama build: %w", err)
	}
	l, err := lock.Acquire(ctx, filepath.Join(dir, ".build.lock"))
	if err != nil {
		return "", fmt.Errorf("ollama build: wait for another build: %w", err)
	}
	defer l.Release()
	// Another process may have built it while this one waited.
	if ok, err := b.works(ctx, bin, version); ok || err != nil {
		return bin, err
	}
	if err := b.build(ctx, version, dir, bin); err != nil {
		return "", err
	}
	if ok, err := b.works(ctx, bin, version); !ok {
		return "", fmt.Errorf("ollama build: the built %s does not report version %s: %v", bin, version, err)
	}
	return bin, nil
}

// works reports whether bin exists and says it is version. A missing bin
// is (false, nil); one that exists but is not an ollama of that version
// is an error, so a wrong cache entry is never silently used or replaced.
func (b *Builder) works(ctx context.Context, bin, version string) (bool, error) {
	if _, err := os.Stat(bin); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	got, err := BinaryVersion(ctx, bin)
	if err != nil {
		return false, fmt.Errorf("ollama build: cached %s: %w (remove it to rebuild)", bin, err)
	}
	if got != version {
		return false, fmt.Errorf("ollama build: cached %s reports version %q, want %q (remove it to rebuild)", bin, got, version)
	}
	return true, nil
}

// BinaryVersion runs `ollama --version` with no server to ask and returns
// the client version it prints ("Warning: client version is 0.17.4").
func BinaryVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--version")
	// A port nothing listens on: the client reports its own version only.
	cmd.Env = append(os.Environ(), "OLLAMA_HOST=127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	const marker = "client version is "
	if i := bytes.Index(out, []byte(marker)); i >= 0 {
		v, _, _ := strings.Cut(string(out[i+len(marker):]), "\n")
		return strings.TrimSpace(v), nil
	}
	return "", fmt.Errorf("%s --version: %v: %q", bin, err, limit(out, 300))
}

// Prerequisites reports what this machine lacks to build Ollama: the go
// command, a C and a C++ compiler, the header-only libraries. Empty means
// the build can be tried.
func (b *Builder) Prerequisites() []string {
	var missing []string
	for _, tool := range []string{b.Go, "gcc", "g++"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (not on PATH)", tool))
		}
	}
	for _, h := range headers {
		found := false
		dirs := b.IncludeDirs
		if dirs == nil {
			dirs = includeDirs
		}
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, h.path)); err == nil {
				found = true
			}
		}
		if !found {
			missing = append(missing, fmt.Sprintf("<%s> (Debian: apt-get install %s)", h.path, h.pkg))
		}
	}
	return missing
}

// build runs go install for the version into a temporary directory beside
// bin and renames the result to bin.
func (b *Builder) build(ctx context.Context, version, dir, bin string) error {
	if missing := b.Prerequisites(); len(missing) > 0 {
		return fmt.Errorf("ollama build: cannot build Ollama %s on this machine, missing: %s", version, strings.Join(missing, "; "))
	}
	work, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return fmt.Errorf("ollama build: %w", err)
	}
	defer os.RemoveAll(work)
	inc := filepath.Join(work, "include")
	if err := b.miniaudio(ctx, work, inc); err != nil {
		return err
	}
	gobin := filepath.Join(work, "bin")
	start := time.Now()
	fmt.Fprintf(b.Log, "building Ollama %s from its Go module into %s (minutes; cached afterwards)\n", version, bin)
	cmd := exec.CommandContext(ctx, b.Go, "install",
		"-ldflags", "-X "+ollamaModule+"/version.Version="+version,
		ollamaModule+"@v"+version)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOWORK=off", "CGO_ENABLED=1",
		"CGO_CPPFLAGS=-I"+inc+" -I/usr/include/stb "+os.Getenv("CGO_CPPFLAGS"))
	var tail tailBuffer
	cmd.Stdout = io.MultiWriter(b.Log, &tail)
	cmd.Stderr = io.MultiWriter(b.Log, &tail)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ollama build: go install %s@v%s: %w\n%s", ollamaModule, version, err, tail.String())
	}
	if err := os.Rename(filepath.Join(gobin, "ollama"), bin); err != nil {
		return fmt.Errorf("ollama build: %w", err)
	}
	fmt.Fprintf(b.Log, "built Ollama %s in %s\n", version, time.Since(start).Round(time.Second))
	return nil
}

// miniaudio copies miniaudio.h from the malgo module (downloaded through
// the module proxy like any Go module) to inc/miniaudio/miniaudio.h.
func (b *Builder) miniaudio(ctx context.Context, work, inc string) error {
	cmd := exec.CommandContext(ctx, b.Go, "mod", "download", "-json", malgoModule)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); err != nil || jerr != nil || mod.Dir == "" {
		return fmt.Errorf("ollama build: go mod download %s (for miniaudio.h): %v %s %q", malgoModule, err, mod.Error, limit(out, 300))
	}
	src, err := os.ReadFile(filepath.Join(mod.Dir, "miniaudio.h"))
	if err != nil {
		return fmt.Errorf("ollama build: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(inc, "miniaudio"), 0o755); err != nil {
		return fmt.Errorf("ollama build: %w", err)
	}
	return os.WriteFile(filepath.Join(inc, "miniaudio", "miniaudio.h"), src, 0o644)
}

// tailBuffer keeps the last 4 KiB written to it: the end of a failed
// build's output, for the error.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if n := len(t.b) - 4096; n > 0 {
		t.b = t.b[n:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

func limit(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
