package drift

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// entry is one line of the drift map: a deployed file and the path of its
// canonical copy inside the repository.
type entry struct {
	// Deployed is the absolute, cleaned path of the deployed file.
	Deployed string
	// Canonical is the slash-separated path relative to the repository
	// root, as git names it (no "..", no leading "/").
	Canonical string
	// Line is where the entry was read, for messages.
	Line int
}

// maxMapLine bounds one line of the map; a longer line is an error, not a
// silent truncation.
const maxMapLine = 16 << 10

// parseMap reads the drift map format:
//
//	# comment
//	<deployed path> = <canonical path relative to the repo>
//
// The line is split at its first '=' (so a deployed path cannot contain
// one) and both sides are trimmed. A deployed path must be absolute or start
// with "~/", which expands against home. Errors name the source and line,
// e.g. "council-drift.map:3: canonical path ../x leaves the repository".
func parseMap(r io.Reader, name, home string) ([]entry, error) {
	var entries []entry
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxMapLine)
	n := 0
	for sc.Scan() {
		n++
		e, ok, err := parseMapLine(sc.Text(), home)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if !ok {
			continue
		}
		if first, dup := seen[e.Deployed]; dup {
			return nil, fmt.Errorf("%s:%d: deployed path %s is already mapped on line %d", name, n, e.Deployed, first)
		}
		seen[e.Deployed] = n
		e.Line = n
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, n+1, maxMapLine)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return entries, nil
}

// parseMapLine parses one line; ok is false for blank and comment lines.
func parseMapLine(line, home string) (e entry, ok bool, err error) {
	if strings.ContainsAny(line, "\x00\r") {
		return entry{}, false, errors.New("line contains a NUL or carriage return")
	}
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return entry{}, false, nil
	}
	deployed, canonical, found := strings.Cut(line, "=")
	deployed, canonical = strings.TrimSpace(deployed), strings.TrimSpace(canonical)
	if !found || deployed == "" || canonical == "" {
		return entry{}, false, fmt.Errorf("want `<deployed path> = <canonical path>`, got %q", line)
	}
	d, err := deployedPath(deployed, home)
	if err != nil {
		return entry{}, false, err
	}
	c, err := canonicalPath(canonical)
	if err != nil {
		return entry{}, false, err
	}
	return entry{Deployed: d, Canonical: c}, true, nil
}

// deployedPath expands a leading "~" against home and requires an absolute
// path: a probe run by launchd has no meaningful working directory.
func deployedPath(p, home string) (string, error) {
	switch {
	case p == "~":
		return "", errors.New("deployed path ~ is the home directory, not a file")
	case strings.HasPrefix(p, "~/"):
		if home == "" {
			return "", fmt.Errorf("deployed path %s: no home directory to expand ~ against", p)
		}
		p = filepath.Join(home, p[2:])
	case strings.HasPrefix(p, "~"):
		return "", fmt.Errorf("deployed path %s: only ~/ (your own home) is expanded", p)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("deployed path %s is not absolute (start it with / or ~/)", p)
	}
	p = filepath.Clean(p)
	if p == string(filepath.Separator) {
		return "", errors.New("deployed path / is a directory, not a file")
	}
	if strings.TrimSpace(p) != p {
		return "", fmt.Errorf("deployed path %q ends in white space once cleaned, which the map cannot express", p)
	}
	return p, nil
}

// canonicalPath checks a repository-relative path and returns it in the
// form git uses: slash-separated, cleaned, inside the repository.
func canonicalPath(p string) (string, error) {
	orig := p
	p = filepath.ToSlash(p)
	if strings.HasPrefix(p, "/") || filepath.IsAbs(orig) {
		return "", fmt.Errorf("canonical path %s must be relative to the repository", orig)
	}
	p = path.Clean(p)
	switch {
	case p == ".":
		return "", fmt.Errorf("canonical path %s is the repository root, not a file", orig)
	case p == ".." || strings.HasPrefix(p, "../"):
		return "", fmt.Errorf("canonical path %s leaves the repository", orig)
	case p == ".git" || strings.HasPrefix(p, ".git/"):
		return "", fmt.Errorf("canonical path %s is inside .git, not a committed file", orig)
	case strings.TrimSpace(p) != p:
		return "", fmt.Errorf("canonical path %q starts or ends in white space once cleaned, which the map cannot express", p)
	}
	return p, nil
}

// readMap reads and parses the drift map file at path.
func readMap(path, home string) ([]entry, error) {
	f, err := atomicfile.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("drift map: %w", err)
	}
	defer f.Close()
	return parseMap(f, path, home)
}

// formatMap writes entries in the map format ParseMap reads, with deployed
// paths absolute (no ~).
func formatMap(w io.Writer, entries []entry) error {
	for _, e := range entries {
		if _, err := fmt.Fprintf(w, "%s = %s\n", e.Deployed, e.Canonical); err != nil {
			return err
		}
	}
	return nil
}
