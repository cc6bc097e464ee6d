package probetest

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sanctum/council-probes/pkg/host/signing"
)

// CopyFile copies src to dst with mode through a temporary file renamed into
// place, so dst gets a new inode the way a rebuild does.
func CopyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// WriteScript writes an executable shell script into dir, the way tests fake
// codesign, lsof or git, and returns its path.
func WriteScript(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// NewKey makes an ed25519 key pair in dir and returns its private and public
// key paths.
func NewKey(t testing.TB, dir, name string) (priv, pub string) {
	t.Helper()
	priv, pub = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if _, err := signing.GenerateKey(priv, pub); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// SignFile writes file's detached signature (file.sig) with the private key.
func SignFile(t testing.TB, priv, file string) {
	t.Helper()
	if _, err := signing.SignFile(priv, file); err != nil {
		t.Fatal(err)
	}
}

// FlipByte inverts one byte of path in place: same size, same inode, a
// signature that no longer verifies.
func FlipByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
