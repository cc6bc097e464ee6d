// Package tilde shortens paths under the user's home to "~/...", the way a
// shell prints them, for text people read: check names, the status screen,
// the plugin status line. It never touches what a program reads back (the
// event log's fields and the JSON keep full paths).
package tilde

import (
	"path/filepath"
	"strings"
)

// Path returns p with a leading home replaced by "~": "/Users/x/Library/a"
// becomes "~/Library/a" and home itself "~". Paths elsewhere, and every path
// when home is empty or "/", are returned unchanged.
func Path(p, home string) string {
	home = clean(home)
	if home == "" {
		return p
	}
	if p == home {
		return "~"
	}
	if rest, ok := strings.CutPrefix(p, home+"/"); ok {
		return "~/" + rest
	}
	return p
}

// Text replaces every path in s that starts with home by its "~" form. A
// match must be a whole path component: with home /Users/x, "/Users/xavier"
// and "/data/Users/x" are left alone.
func Text(s, home string) string {
	home = clean(home)
	if home == "" || !strings.Contains(s, home) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, home)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(home)
		startOK := i == 0 || !isPathByte(s[i-1])
		endOK := end == len(s) || s[end] == '/' || !isPathByte(s[end])
		b.WriteString(s[:i])
		if startOK && endOK {
			b.WriteString("~")
		} else {
			b.WriteString(home)
		}
		s = s[end:]
	}
}

func clean(home string) string {
	if home == "" {
		return ""
	}
	home = filepath.Clean(home)
	if home == "/" || home == "." {
		return ""
	}
	return home
}

// isPathByte reports whether c can continue a path component (so a home
// followed or preceded by it is part of a longer name).
func isPathByte(c byte) bool {
	return c == '/' || c == '.' || c == '-' || c == '_' || c == '+' || c == '@' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80
}
