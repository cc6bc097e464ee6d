package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for hashbench's RSS child, the
// way the real binary re-executes itself.
func TestMain(m *testing.M) {
	if p := os.Getenv(childEnv); p != "" {
		os.Exit(child(p, os.Stdout))
	}
	os.Exit(m.Run())
}

func TestRunSmall(t *testing.T) {
	var out, errs bytes.Buffer
	args := []string{"-large", "3M", "-files", "3", "-file-size", "1M", "-runs", "1", "-dir", t.TempDir()}
	if code := run(args, &out, &errs); code != 0 {
		t.Fatalf("exit %d\n%s", code, errs.String())
	}
	for _, want := range []string{"1 file of 3 MiB, 1 core", "3 files of 1 MiB", "cached re-check, 4 unchanged files", "peak RSS hashing 3 MiB"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunWithoutOpenSSL(t *testing.T) {
	var out, errs bytes.Buffer
	args := []string{"-large", "1M", "-files", "1", "-file-size", "1M", "-runs", "1", "-dir", t.TempDir(), "-openssl", "no-such-openssl"}
	if code := run(args, &out, &errs); code != 0 {
		t.Fatalf("exit %d\n%s", code, errs.String())
	}
	if !strings.Contains(errs.String(), "openssl not found") || !strings.Contains(out.String(), "n/a") {
		t.Fatalf("missing openssl not reported:\nstdout:\n%s\nstderr:\n%s", out.String(), errs.String())
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "4K": 4096, "16M": 16 << 20, "16MiB": 16 << 20, "2G": 2 << 30, "1.5g": 3 << 29} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G", "-1M", "lots"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestBadFlags(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"-files", "0"}, &out, &errs); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}
