// Package redact is the one place that makes a string safe to log, store or
// send. Everything a server, a file or a URL says passes through String
// before it reaches the event log, a state file, an alert or a terminal:
// a hostile or merely broken server can echo the request's Authorization
// header into a chat answer, a model id or an error body, and a URL flag can
// carry a password.
//
// What it removes, in this order:
//   - every secret registered with AddSecret (the bearer token this process
//     read), wherever it appears;
//   - anything shaped like a bearer credential: "Bearer <credential>";
//   - anything shaped like an API key: "sk-" followed by 8 or more key
//     characters;
//   - the password of a URL's user info (scheme://user:password@host), kept
//     as scheme://user:xxxxx@host, the form net/url's Redacted uses.
//
// Secrets are per process (a probe reads one token per tick), so they are
// registered once, where the token is read, and every sink sees them.
package redact

import (
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Mask replaces a secret.
const Mask = "[redacted]"

// urlPasswordMask replaces a URL's password (net/url's Redacted form).
const urlPasswordMask = "xxxxx"

var (
	mu      sync.RWMutex
	secrets []string
)

// minSecret is the shortest secret redacted by value: a shorter one would
// turn ordinary words into "[redacted]" (and a 1-byte token proves nothing).
const minSecret = 4

// AddSecret registers a secret (e.g. the bearer token) to be masked
// wherever String sees it. Empty and very short strings are ignored.
func AddSecret(s string) {
	s = strings.TrimSpace(s)
	if len(s) < minSecret {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	for _, have := range secrets {
		if have == s {
			return
		}
	}
	secrets = append(secrets, s)
}

// Reset forgets every registered secret (for tests that plant several).
func Reset() {
	mu.Lock()
	defer mu.Unlock()
	secrets = nil
}

var (
	bearerRE = regexp.MustCompile(`(?i)(bearer\s+)[^\s"',;\\]+`)
	skRE     = regexp.MustCompile(`\bsk-[A-Za-z0-9_\-]{8,}`)
	// userinfoRE finds scheme://user:password@ anywhere in a string (an
	// error from net/http quotes the URL it failed on).
	userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@"']*):([^\s/@"']*)@`)
)

// String returns s with every secret, bearer credential, API key and URL
// password masked.
func String(s string) string {
	if s == "" {
		return s
	}
	mu.RLock()
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, Mask)
	}
	mu.RUnlock()
	s = bearerRE.ReplaceAllString(s, "${1}"+Mask)
	s = skRE.ReplaceAllString(s, Mask)
	s = userinfoRE.ReplaceAllString(s, "${1}:"+urlPasswordMask+"@")
	return s
}

// Error is String of err's message ("" for nil).
func Error(err error) string {
	if err == nil {
		return ""
	}
	return String(err.Error())
}

// URL returns a URL for display: its password masked, and anything String
// would mask. An unparsable URL is still masked by String's rules.
func URL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			raw = u.Redacted()
		}
	}
	return String(raw)
}
