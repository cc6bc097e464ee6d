package redact

import (
	"errors"
	"strings"
	"testing"
)

const token = "sk-council-PLANTED-token-7d41f0"

// TestString is the one table of what every sink of server, URL and error
// text must never carry.
func TestString(t *testing.T) {
	Reset()
	AddSecret(token)
	AddSecret("opaque-TOKEN-without-prefix")
	t.Cleanup(Reset)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain text untouched", "The answer is 4.", "The answer is 4."},
		{"empty", "", ""},
		{"registered token in an answer", "you sent " + token + " ok", "you sent [redacted] ok"},
		{"registered token without the sk- shape", "echo opaque-TOKEN-without-prefix", "echo [redacted]"},
		{"echoed Authorization header", `{"auth":"Bearer abc.def-123"}`, `{"auth":"Bearer [redacted]"}`},
		{"bearer in lower case", "authorization: bearer zzzzzzzz", "authorization: bearer [redacted]"},
		{"an unknown sk- key", "key sk-abcdefgh12345 end", "key [redacted] end"},
		{"sk- too short to be a key", "task sk-1 done", "task sk-1 done"},
		{"URL password", "GET http://ff:hunter2@127.0.0.1:4077/notify: refused", "GET http://ff:xxxxx@127.0.0.1:4077/notify: refused"},
		{"URL user without password kept", "http://ff@127.0.0.1/notify", "http://ff@127.0.0.1/notify"},
		{"quoted URL in a Go error", `Post "https://u:p%40ss@h:1/x": EOF`, `Post "https://u:xxxxx@h:1/x": EOF`},
		{"token inside a URL password", "http://u:" + token + "@h/", "http://u:xxxxx@h/"},
		{"model id carrying the token", "model " + token + "-q4", "model [redacted]-q4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://user:pw@127.0.0.1:1337", "http://user:xxxxx@127.0.0.1:1337"},
		{"http://127.0.0.1:1337", "http://127.0.0.1:1337"},
		{"https://user@host/p", "https://user@host/p"},
		{"::not a url user:pw@", "::not a url user:pw@"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrorAndShortSecrets(t *testing.T) {
	Reset()
	t.Cleanup(Reset)
	AddSecret("ab") // too short: would mask ordinary words
	AddSecret("")
	if got := String("about ab"); got != "about ab" {
		t.Errorf("a 2-byte secret was applied: %q", got)
	}
	AddSecret(token)
	if got := Error(errors.New("HTTP 401: " + token)); strings.Contains(got, token) {
		t.Errorf("Error kept the token: %q", got)
	}
	if Error(nil) != "" {
		t.Error("Error(nil) is not empty")
	}
}
