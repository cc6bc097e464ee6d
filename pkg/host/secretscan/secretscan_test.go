package secretscan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/host/paths"
)

const token = "tok-0123456789abcdef" // a stand-in, not a real credential

func plant(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	p := paths.Home(dir).TokenFile()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRead(t *testing.T) {
	t.Run("no token file", func(t *testing.T) {
		s, err := Read(t.TempDir())
		if err != nil || len(s) != 0 {
			t.Fatalf("Read = %v, %v", s, err)
		}
	})
	t.Run("planted token", func(t *testing.T) {
		s, err := Read(plant(t, token+"\n"))
		if err != nil || len(s) != 1 || s[0].Value != token {
			t.Fatalf("Read = %d secrets, %v", len(s), err)
		}
		if strings.Contains(s[0].Name, token) {
			t.Error("the secret's name holds the secret")
		}
	})
	t.Run("too short to search", func(t *testing.T) {
		s, err := Read(plant(t, "abc\n"))
		if err != nil || len(s) != 0 {
			t.Fatalf("Read = %v, %v", s, err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		dir := plant(t, token)
		p := paths.Home(dir).TokenFile()
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(p, 0o700); err != nil { // a directory where the file should be
			t.Fatal(err)
		}
		if _, err := Read(dir); err == nil || strings.Contains(err.Error(), token) {
			t.Fatalf("Read of a directory = %v; want an error without the token", err)
		}
	})
}

func TestRedact(t *testing.T) {
	got := Redact("bad value \"Bearer "+token+"\"", []Secret{{Name: "t", Value: token}, {Name: "empty"}})
	if strings.Contains(got, token) || !strings.Contains(got, "[redacted]") {
		t.Fatalf("Redact = %q", got)
	}
}

func TestLooksLikeCredential(t *testing.T) {
	for v, want := range map[string]bool{
		"Bearer abc":                    true,
		"Authorization: x":              true,
		"--api-key=xyz":                 true,
		"token=abc":                     true,
		"/usr/local/bin/council-canary": false,
		"--token-file ~/.sanctum/x":     false,
	} {
		if got := LooksLikeCredential(v); got != want {
			t.Errorf("LooksLikeCredential(%q) = %v, want %v", v, got, want)
		}
	}
}
