package service

import "testing"

// FuzzParseStatStart: /proc/<pid>/stat is the kernel's, but a command name
// is the process's own choice (spaces, parentheses, anything).
func FuzzParseStatStart(f *testing.F) {
	f.Add([]byte("1 (x) R"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ticks, state, err := ParseStatStart(b)
		if err == nil && (!isLetter(state) || ticks > 1<<62) {
			t.Fatalf("accepted state %q ticks %d", state, ticks)
		}
	})
}

func isLetter(b byte) bool { return 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' }
