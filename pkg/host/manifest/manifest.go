// Package manifest reads SHA-256 manifests of model weights and verifies
// the files they list.
//
// The format is what `shasum -a 256` (and GNU sha256sum) print, one file a
// line:
//
//	<64 hex digits><space><space><path>    text mode
//	<64 hex digits><space>*<path>          binary mode
//	SHA256 (<path>) = <64 hex digits>      BSD tag style (shasum --tag)
//
// The mode flag is recorded but changes nothing: on the systems we run on
// both modes hash the raw bytes. shasum's "U" (universal newlines) and "^"
// (bit) modes hash something other than the file's bytes and are rejected.
// A line starting with a backslash uses the GNU escapes for names holding a
// newline or a backslash ("\\n", "\\\\"). Empty lines and a trailing CR
// (a manifest edited on Windows) are tolerated; anything else malformed is
// an error naming the line.
//
// Paths: a relative path is resolved against the manifest's directory (the
// root), and a relative path that climbs out of the root ("../x",
// "a/../../x") is rejected: a weight manifest describes the directory it
// lives in, and a climbing path is either a mistake or an attempt to make
// the probe read something else. An absolute path is taken as written, as
// shasum -c does, since it can only be there on purpose. A path listed twice
// is an error. Symlinks are followed when hashing.
//
// A manifest is only as trustworthy as its signature: verify the signature
// over the exact bytes you then parse (read once, then signing.Verify and
// Parse on the same bytes), rather than re-reading the file.
package manifest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/host/hashcache"
)

// Entry is one line of a manifest.
type Entry struct {
	// Path is the path as listed (unescaped, cleaned, slash-separated as
	// written).
	Path string
	// SHA256 is the expected digest in lowercase hex.
	SHA256 string
	// Binary is true for the "*" (binary mode) marker.
	Binary bool
	// Line is the 1-based line number in the manifest.
	Line int
}

// Manifest is a parsed manifest.
type Manifest struct {
	// Root is the directory relative paths are resolved against.
	Root    string
	Entries []Entry
}

// LineError is a malformed line.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// ErrEscapesRoot is wrapped by the LineError for a relative path that
// leaves the manifest's directory.
var ErrEscapesRoot = errors.New("path leaves the manifest's directory")

// maxLine bounds a line so a corrupt manifest cannot make the parser
// allocate without limit.
const maxLine = 64 << 10

// Parse reads a manifest from r. root is the directory relative paths are
// resolved against (normally the manifest's own directory). Errors wrap a
// *LineError naming the first bad line.
func Parse(r io.Reader, root string) (*Manifest, error) {
	m := &Manifest{Root: root}
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		e, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("parse manifest: %w", &LineError{Line: n, Err: err})
		}
		e.Line = n
		key := e.Path
		if !filepath.IsAbs(key) {
			key = filepath.Join(root, key)
		}
		if first, dup := seen[key]; dup {
			return nil, fmt.Errorf("parse manifest: %w", &LineError{Line: n, Err: fmt.Errorf("%s is already listed on line %d", e.Path, first)})
		}
		seen[key] = n
		m.Entries = append(m.Entries, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("parse manifest: %w", &LineError{Line: n + 1, Err: fmt.Errorf("line longer than %d bytes", maxLine)})
		}
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	return m, nil
}

// MaxSize bounds the manifest read into memory: a weight manifest is a
// line per file, a few KiB; 16 MiB is some 100,000 files.
const MaxSize = 16 << 20

// ParseFile reads and parses the manifest at path, with its directory as
// the root: bounded by MaxSize, and a FIFO is an error, never a wait.
func ParseFile(path string) (*Manifest, error) {
	data, err := atomicfile.ReadRegular(path, MaxSize)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := Parse(bytes.NewReader(data), filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func parseLine(line string) (Entry, error) {
	var e Entry
	escaped := false
	if strings.HasPrefix(line, "\\") {
		escaped = true
		line = line[1:]
	}
	var digest, path string
	if rest, ok := strings.CutPrefix(line, "SHA256 ("); ok {
		i := strings.LastIndex(rest, ") = ")
		if i < 0 {
			return e, errors.New(`tag line is not "SHA256 (<path>) = <digest>"`)
		}
		path, digest = rest[:i], rest[i+len(") = "):]
	} else {
		i := strings.IndexByte(line, ' ')
		if i < 0 || i+1 == len(line) {
			return e, errors.New(`want "<64 hex digits>  <path>" or "<64 hex digits> *<path>"`)
		}
		digest = line[:i]
		if !isHex64(digest) && strings.HasPrefix(line[i+1:], "(") {
			return e, fmt.Errorf("tag line for %s: only SHA256 is supported", text.Cut(digest, 80))
		}
		if !isHex64(digest) {
			return e, fmt.Errorf("digest %q is not 64 hex digits", text.Cut(digest, 80))
		}
		switch line[i+1] {
		case ' ':
		case '*':
			e.Binary = true
		case 'U', '^':
			return e, fmt.Errorf("shasum mode %q hashes transformed content; only text (' ') and binary ('*') are supported", line[i+1])
		default:
			return e, fmt.Errorf("unknown mode character %q after the digest", line[i+1])
		}
		path = line[i+2:]
	}
	if !isHex64(digest) {
		return e, fmt.Errorf("digest %q is not 64 hex digits", text.Cut(digest, 80))
	}
	if escaped {
		var err error
		if path, err = unescape(path); err != nil {
			return e, err
		}
	}
	if err := checkPath(path); err != nil {
		return e, err
	}
	e.SHA256 = strings.ToLower(digest)
	e.Path = filepath.Clean(path)
	return e, nil
}

func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("path contains a NUL byte")
	case filepath.IsAbs(p):
		return nil
	}
	if c := filepath.Clean(p); c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("%s: %w", p, ErrEscapesRoot)
	}
	if filepath.Clean(p) == "." {
		return fmt.Errorf("%q names the manifest's directory, not a file", p)
	}
	return nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// unescape undoes the GNU escaping of names with "\\", "\n" or "\r".
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", errors.New("path ends in a lone backslash")
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf("unknown escape \\%c in path", s[i])
		}
	}
	return b.String(), nil
}

// Write writes entries in shasum's binary-mode format, escaping names the
// way GNU sha256sum does, so that Parse reads back the same entries.
func Write(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriter(w)
	for _, e := range entries {
		p := e.Path
		prefix := ""
		if strings.ContainsAny(p, "\\\n\r") {
			prefix = "\\"
			p = strings.NewReplacer("\\", "\\\\", "\n", "\\n", "\r", "\\r").Replace(p)
		}
		mode := " "
		if e.Binary {
			mode = "*"
		}
		fmt.Fprintf(bw, "%s%s %s%s\n", prefix, strings.ToLower(e.SHA256), mode, p)
	}
	return bw.Flush()
}

// Abs is the file an entry names: its path resolved against root.
func (m *Manifest) Abs(e Entry) string {
	if filepath.IsAbs(e.Path) {
		return e.Path
	}
	return filepath.Join(m.Root, e.Path)
}

// Mismatch is a file whose content does not match its entry.
type Mismatch struct {
	Path string // as listed in the manifest
	Want string
	Got  string
}

// FileError is a listed file that could not be hashed for a reason other
// than being missing (permission, not a regular file, changed while read).
type FileError struct {
	Path string // as listed in the manifest
	Err  error
}

// Report is the outcome of a verification.
type Report struct {
	// Files is the number of entries checked.
	Files int
	// Bytes is the total size of the files that could be read.
	Bytes      int64
	Mismatched []Mismatch
	Missing    []string
	Unreadable []FileError
}

// OK reports whether every listed file is present and matches.
func (r Report) OK() bool {
	return len(r.Mismatched) == 0 && len(r.Missing) == 0 && len(r.Unreadable) == 0
}

// Err is nil for a clean report and otherwise names every bad file, for an
// alert message.
func (r Report) Err() error {
	if r.OK() {
		return nil
	}
	var parts []string
	for _, m := range r.Mismatched {
		parts = append(parts, m.Path+": sha256 mismatch")
	}
	for _, p := range r.Missing {
		parts = append(parts, p+": missing")
	}
	for _, u := range r.Unreadable {
		parts = append(parts, fmt.Sprintf("%s: %v", u.Path, u.Err))
	}
	return fmt.Errorf("manifest verification failed: %d of %d files bad: %s",
		len(parts), r.Files, strings.Join(parts, "; "))
}

// Verify hashes every listed file through cache (in parallel, with the
// cache's workers) and compares each with its entry. The error is non-nil
// only when ctx ended; bad files are in the Report. A nil cache hashes
// every file without caching. Saving the cache is the caller's job.
func (m *Manifest) Verify(ctx context.Context, cache *hashcache.Cache) (Report, error) {
	if cache == nil {
		cache, _ = hashcache.Open("", hashcache.Options{})
	}
	paths := make([]string, len(m.Entries))
	for i, e := range m.Entries {
		paths[i] = m.Abs(e)
	}
	results, err := cache.HashFiles(ctx, paths)
	rep := Report{Files: len(m.Entries)}
	if err != nil {
		return rep, fmt.Errorf("verify manifest: %w", err)
	}
	for i, r := range results {
		e := m.Entries[i]
		switch {
		case errors.Is(r.Err, fs.ErrNotExist):
			rep.Missing = append(rep.Missing, e.Path)
		case r.Err != nil:
			rep.Unreadable = append(rep.Unreadable, FileError{Path: e.Path, Err: r.Err})
		case r.SHA256 != e.SHA256:
			rep.Bytes += r.Size
			rep.Mismatched = append(rep.Mismatched, Mismatch{Path: e.Path, Want: e.SHA256, Got: r.SHA256})
		default:
			rep.Bytes += r.Size
		}
	}
	return rep, nil
}

// Verify parses the manifest at manifestPath and verifies it; see
// (*Manifest).Verify. Prefer parsing bytes whose signature you checked.
func Verify(ctx context.Context, manifestPath string, cache *hashcache.Cache) (Report, error) {
	m, err := ParseFile(manifestPath)
	if err != nil {
		return Report{}, err
	}
	return m.Verify(ctx, cache)
}
