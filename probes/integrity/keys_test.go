package integrity

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/host/signing"
)

// TestVerifyExitCodes pins verify's answer as signature tools give it: 0
// valid, 1 invalid, 2 cannot check. A script that gates a deploy on it must
// tell "this binary was tampered with" from "I could not look".
func TestVerifyExitCodes(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	key, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if _, err := signing.GenerateKey(key, pub); err != nil {
		t.Fatal(err)
	}
	otherKey, otherPub := filepath.Join(dir, "o.key"), filepath.Join(dir, "o.pub")
	if _, err := signing.GenerateKey(otherKey, otherPub); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	signed := write("signed", "the primary binary")
	if _, err := signing.SignFile(key, signed); err != nil {
		t.Fatal(err)
	}
	tampered := write("tampered", "the primary binary")
	if _, err := signing.SignFile(key, tampered); err != nil {
		t.Fatal(err)
	}
	write("tampered", "the primary binary, patched")
	short := write("short", "x")
	write("short.sig", "not 64 bytes")
	unsigned := write("unsigned", "no signature beside me")
	unreadableKey := write("unreadable.pub", "")
	if err := os.Chmod(unreadableKey, 0); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"valid", []string{"--pubkey", pub, signed}, verifyValid, "signature " + signed + ".sig OK", ""},
		{"content changed", []string{"--pubkey", pub, tampered}, verifyInvalid, "", "signature invalid"},
		{"another key", []string{"--pubkey", otherPub, signed}, verifyInvalid, "", "signature invalid"},
		{"not a signature", []string{"--pubkey", pub, short}, verifyInvalid, "", "not 64 bytes"},
		{"no signature file", []string{"--pubkey", pub, unsigned}, verifyCannotCheck, "", "no such file"},
		{"no file", []string{"--pubkey", pub, filepath.Join(dir, "absent")}, verifyCannotCheck, "", "no such file"},
		{"no key file", []string{"--pubkey", filepath.Join(dir, "absent.pub"), signed}, verifyCannotCheck, "", "no such file"},
		{"key is not a key", []string{"--pubkey", signed, signed}, verifyCannotCheck, "", ""},
		{"no --pubkey", []string{signed}, verifyCannotCheck, "", "--pubkey is required"},
		{"no FILE", []string{"--pubkey", pub}, verifyCannotCheck, "", "want exactly one FILE"},
		{"unknown flag", []string{"--pubkey", pub, "--nope", signed}, verifyCannotCheck, "", "nope"},
	}
	if os.Geteuid() != 0 {
		// root reads a mode-000 file anyway.
		tests = append(tests, struct {
			name   string
			args   []string
			code   int
			stdout string
			stderr string
		}{"unreadable key", []string{"--pubkey", unreadableKey, signed}, verifyCannotCheck, "", "permission denied"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errw bytes.Buffer
			p := New()
			p.Stdout, p.Stderr = &out, &errw
			code := p.Run(append([]string{"council-integrity", "verify"}, tt.args...))
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errw.String())
			}
			if !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errw.String(), tt.stderr) {
				t.Errorf("stdout %q (want %q), stderr %q (want %q)", out.String(), tt.stdout, errw.String(), tt.stderr)
			}
		})
	}
}
