package drift

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// repo reads committed content from a git repository by running git by argv
// (never through a shell). Only committed objects are read: the working
// tree and the index are never consulted for content, so a parallel
// session's uncommitted edits cannot read as drift.
type repo struct {
	// Dir is the repository (any directory inside its work tree).
	Dir string
	// Git is the git binary. Default "git".
	Git string
}

// gitError is a git command that ran and failed (or could not run).
type gitError struct {
	Args   []string
	Code   int // -1 when git could not be started
	Output string
	Err    error
}

func (e *gitError) Error() string {
	out := text.Cut(text.Clean(e.Output), 500)
	if e.Code < 0 {
		return fmt.Sprintf("git %s: %v", strings.Join(e.Args, " "), e.Err)
	}
	if out == "" {
		return fmt.Sprintf("git %s: exit %d", strings.Join(e.Args, " "), e.Code)
	}
	return fmt.Sprintf("git %s: exit %d: %s", strings.Join(e.Args, " "), e.Code, out)
}

func (e *gitError) Unwrap() error { return e.Err }

func (r *repo) git() string {
	if r.Git == "" {
		return "git"
	}
	return r.Git
}

// command builds a git command in the repository. The environment drops the
// variables that would point git somewhere else, never takes optional locks
// (so a status does not contend with a developer's index.lock) and never
// prompts. Pathspecs are literal: a canonical path is a file name, not a
// pattern.
func (r *repo) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--no-optional-locks", "--literal-pathspecs", "-C", r.Dir}, args...)
	cmd := exec.CommandContext(ctx, r.git(), full...)
	env := []string{"GIT_OPTIONAL_LOCKS=0", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
			"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES",
			"GIT_OPTIONAL_LOCKS", "GIT_TERMINAL_PROMPT", "LC_ALL", "GIT_LITERAL_PATHSPECS":
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	return cmd
}

// output runs git and returns its stdout; a failure is a *GitError with
// stderr.
func (r *repo) output(ctx context.Context, args ...string) ([]byte, error) {
	cmd := r.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, r.exitError(ctx, args, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

func (r *repo) exitError(ctx context.Context, args []string, err error, stderr string) error {
	if ctx.Err() != nil {
		return &gitError{Args: args, Code: -1, Err: ctx.Err()}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &gitError{Args: args, Code: ee.ExitCode(), Output: stderr, Err: err}
	}
	return &gitError{Args: args, Code: -1, Err: err}
}

// Head resolves HEAD to a commit id.
func (r *repo) Head(ctx context.Context) (string, error) {
	out, err := r.output(ctx, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
	if err != nil {
		var ge *gitError
		if errors.As(err, &ge) && ge.Code == 1 && strings.TrimSpace(ge.Output) == "" {
			return "", fmt.Errorf("git rev-parse HEAD in %s: no commit yet", r.Dir)
		}
		return "", err
	}
	id := strings.TrimSpace(string(out))
	if id == "" {
		return "", fmt.Errorf("git rev-parse HEAD in %s: empty answer", r.Dir)
	}
	return id, nil
}

// blob is what a commit holds at one path.
type blob struct {
	// Missing is true when the commit has nothing at the path.
	Missing bool
	// Type is git's object type: "blob" for a file; "tree" for a
	// directory, "commit" for a submodule.
	Type   string
	Size   int64
	SHA256 string
	// ObjectID is git's own id of the object.
	ObjectID string
}

// Blobs reads the objects at paths in commit through one `git cat-file
// --batch` and hashes each blob's bytes with SHA-256 as they stream past, so
// memory stays flat whatever the size of a committed binary. The result maps
// each path to its Blob.
func (r *repo) Blobs(ctx context.Context, commit string, paths []string) (map[string]blob, error) {
	args := []string{"cat-file", "--batch"}
	cmd := r.command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, r.exitError(ctx, args, err, "")
	}
	// Feed the requests from their own goroutine: git answers as it reads,
	// and a full pipe in either direction must not deadlock us.
	writeErr := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(stdin)
		for _, p := range paths {
			if strings.ContainsAny(p, "\n\x00") {
				continue // ParseMap never yields these; git could not either
			}
			fmt.Fprintf(w, "%s:%s\n", commit, p)
		}
		err := w.Flush()
		if cerr := stdin.Close(); err == nil {
			err = cerr
		}
		writeErr <- err
	}()

	blobs := make(map[string]blob, len(paths))
	br := bufio.NewReaderSize(stdout, 64<<10)
	var readErr error
	for _, p := range paths {
		if strings.ContainsAny(p, "\n\x00") {
			blobs[p] = blob{Missing: true}
			continue
		}
		b, err := readBatchEntry(br, commit+":"+p)
		if err != nil {
			readErr = err
			break
		}
		blobs[p] = b
	}
	if readErr != nil {
		io.Copy(io.Discard, br) // let git finish so Wait returns
	}
	werr := <-writeErr
	if err := cmd.Wait(); err != nil {
		return nil, r.exitError(ctx, args, err, stderr.String())
	}
	if readErr != nil {
		return nil, fmt.Errorf("git cat-file --batch: %w", readErr)
	}
	if werr != nil {
		return nil, fmt.Errorf("git cat-file --batch: write request: %w", werr)
	}
	return blobs, nil
}

// readBatchEntry reads one answer of `git cat-file --batch`:
//
//	<oid> <type> <size>\n<content>\n
//	<object> missing\n
func readBatchEntry(br *bufio.Reader, object string) (blob, error) {
	header, err := br.ReadString('\n')
	if err != nil {
		return blob{}, fmt.Errorf("header for %s: %w", object, err)
	}
	header = strings.TrimSuffix(header, "\n")
	if strings.HasSuffix(header, " missing") || strings.HasSuffix(header, " ambiguous") {
		return blob{Missing: true}, nil
	}
	fields := strings.Fields(header)
	if len(fields) != 3 {
		return blob{}, fmt.Errorf("unexpected header %q for %s", header, object)
	}
	size, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil || size < 0 {
		return blob{}, fmt.Errorf("unexpected size in header %q for %s", header, object)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, br, size); err != nil {
		return blob{}, fmt.Errorf("content of %s: %w", object, err)
	}
	if nl, err := br.ReadByte(); err != nil || nl != '\n' {
		return blob{}, fmt.Errorf("content of %s: missing terminating newline", object)
	}
	return blob{Type: fields[1], Size: size, ObjectID: fields[0], SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Dirty lists the paths under pathspecs with uncommitted changes (staged,
// unstaged or untracked), as `git status --porcelain` reports them.
func (r *repo) Dirty(ctx context.Context, pathspecs []string) ([]string, error) {
	if len(pathspecs) == 0 {
		return nil, nil
	}
	args := append([]string{"status", "--porcelain=v1", "-z", "--untracked-files=all", "--"}, pathspecs...)
	out, err := r.output(ctx, args...)
	if err != nil {
		return nil, err
	}
	return parsePorcelainZ(out)
}

// parsePorcelainZ parses `git status --porcelain=v1 -z`: "XY path\0", with
// renames and copies followed by "\0orig path".
func parsePorcelainZ(out []byte) ([]string, error) {
	var paths []string
	recs := strings.Split(string(out), "\x00")
	for i := 0; i < len(recs); i++ {
		rec := recs[i]
		if rec == "" {
			continue
		}
		if len(rec) < 4 || rec[2] != ' ' {
			return nil, fmt.Errorf("git status: unexpected record %q", rec)
		}
		paths = append(paths, rec[3:])
		if rec[0] == 'R' || rec[0] == 'C' || rec[1] == 'R' || rec[1] == 'C' {
			i++ // the source path of a rename/copy
		}
	}
	return paths, nil
}
