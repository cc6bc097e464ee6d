// Package text makes text from outside the program (a server's answer, a
// file, a command's output) safe to keep and to show. A server is a
// witness, not a trusted author: what it says about itself (a model id, a
// version, an error page) is data, and it must not be able to clear the
// operator's screen, set a terminal's title, write its clipboard, reverse a
// line with a bidi override, or fill a disk with a megabyte-long name.
//
// Four functions, one job each:
//
//	Clean    the sanitiser: one line of text, with no control (Cc) or
//	         format (Cf) character left, bidi overrides and isolates
//	         included (U+202A-U+202E, U+2066-U+2069)
//	Cut      the one trimming helper: at most n bytes, on a rune boundary,
//	         "…" where it cut
//	Ident    Clean then Cut to MaxIdent: an identifier a server supplies
//	         (model id, system_fingerprint), kept as sent otherwise, since
//	         it is compared and sent back
//	Excerpt  Clean, redact.String, then Cut: a server's words shown as
//	         prose (an error body, a readiness detail, a version)
//
// Every server-supplied string passes through Ident or Excerpt where it
// enters the program (pkg/server/openai, pkg/server/backend), so no printer
// has to remember to. The JSON event log keeps its own escaping on top.
package text

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sanctum/council-probes/pkg/core/redact"
)

// MaxIdent bounds an identifier a server supplies: a model id, a
// fingerprint, a version, a build, a path, a digest. Real ones are tens of
// bytes; a hostile one must not turn every series, alert and state file
// that carries it into megabytes.
const MaxIdent = 200

// Ellipsis marks a cut.
const Ellipsis = "…"

// lineSep joins the lines of a multi-line text.
const lineSep = "; "

// Clean returns s as one line of plain text:
//   - invalid UTF-8 becomes U+FFFD;
//   - line breaks (LF, CR, VT, FF, NEL, U+2028, U+2029) end a line; the
//     non-empty lines are joined with "; ";
//   - other white space (tabs, no-break spaces) becomes a space, and runs
//     of spaces one space, trimmed at both ends;
//   - every other control (Cc) and format (Cf) character is removed:
//     ESC, BEL, NUL, DEL, the C1 controls (which include CSI and OSC), the
//     bidi embeddings, overrides and isolates, zero-width characters and
//     the BOM.
//
// An escape sequence therefore loses its ESC (or its C1 introducer) and
// becomes inert text ("[2J"). Clean is idempotent.
func Clean(s string) string {
	if isPlain(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	space, newline := false, false // a separator is pending
	for _, r := range s {
		switch {
		case isLineBreak(r):
			newline = true
			continue
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r):
			continue
		}
		if b.Len() > 0 {
			switch {
			case newline:
				b.WriteString(lineSep)
			case space:
				b.WriteByte(' ')
			}
		}
		space, newline = false, false
		b.WriteRune(r)
	}
	return b.String()
}

// isPlain reports whether s is already clean: printable ASCII with single
// inner spaces (the usual model id or version), so Clean returns it as is
// without allocating.
func isPlain(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || (c == ' ' && s[i+1] == ' ') {
			return false
		}
	}
	return true
}

func isLineBreak(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', '\u0085', '\u2028', '\u2029':
		return true
	}
	return false
}

// Cut returns s when it is at most n bytes long; otherwise its longest
// prefix, cut on a rune boundary with trailing spaces and separators
// dropped, followed by "…", in at most n bytes in all. With n too small
// for the marker, the prefix alone.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < len(Ellipsis)+1 {
		return strings.TrimRight(prefix(s, max(n, 0)), " ")
	}
	return strings.TrimRight(prefix(s, n-len(Ellipsis)), " ;,:") + Ellipsis
}

// prefix is s cut to at most n bytes without splitting a UTF-8 sequence.
func prefix(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Ident is an identifier a server supplies (a model id, a
// system_fingerprint), fit to keep, compare and send back: Clean, then
// Cut to MaxIdent bytes. It is not redacted, because a probe sends a model
// id back to the server as the server spelled it; every sink (the event
// log, alerts, the state) redacts what it writes.
func Ident(s string) string { return Cut(Clean(s), MaxIdent) }

// Excerpt is a server's words shown as prose (an error body, a readiness
// detail, a version string): Clean, then redact.String, then Cut to n
// bytes. It redacts before it cuts, so a cut can never leave part of a
// secret that redaction would no longer recognise.
func Excerpt(s string, n int) string { return Cut(redact.String(Clean(s)), n) }

// Wrap joins s's words with single spaces, starting a new line (sep, e.g.
// "\n# ") before a word that would take the line past width bytes. A word
// longer than width stands on a line of its own.
func Wrap(s string, width int, sep string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		switch {
		case i > 0 && n+1+len(w) > width:
			b.WriteString(sep)
			n = 0
		case i > 0:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
