package service

import "testing"

// FuzzParseStatStart: /proc/<pid>/stat is the kernel's, but a command name
// is the process's own choice (spaces, parentheses, anything).
func FuzzParseStatStart(f *testing.F) {
	f.Add([]byte("4242 (sanctum-mlx) S 1 4242 4242 0 -1 4194560 3104 0 0 0 120 30 0 0 20 0 9 0 183742 1234567 890 18446744073709551615\n"))
	f.Add([]byte("77 (a ) b (c)) Z 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0\n"))
	f.Add([]byte("1 (x) R"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ticks, state, err := ParseStatStart(b)
		if err == nil && (state == 0 || ticks > 1<<62) {
			t.Fatalf("accepted state %q ticks %d", state, ticks)
		}
	})
}
