package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	fifokit "github.com/sanctum/council-probes/pkg/testkit/fifo"
)

func TestOpenFileRefuses(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o700)
	tests := []struct {
		name, path string
		flag       int
		want       error
	}{
		{"symlink, create", link, os.O_RDWR | os.O_CREATE, ErrSymlink},
		{"symlink, read", link, os.O_RDONLY, ErrSymlink},
		{"fifo, read", fifo, os.O_RDONLY, ErrNotRegular},
		{"fifo, append (no reader)", fifo, os.O_WRONLY | os.O_APPEND | os.O_CREATE, ErrNotRegular},
		{"fifo, read-write", fifo, os.O_RDWR | os.O_CREATE, ErrNotRegular},
		{"directory, read", sub, os.O_RDONLY, ErrNotRegular},
		{"directory, append", sub, os.O_WRONLY | os.O_APPEND | os.O_CREATE, ErrNotRegular},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenFile(tt.path, tt.flag, 0o600)
			if err == nil {
				f.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("OpenFile(%s) = %v, want %v", tt.path, err, tt.want)
			}
		})
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the symlink's target was created: %v", err)
	}
}

func TestOpenFileRegular(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, err := OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("line\n")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := ReadFile(path, 5)
	if err != nil || string(got) != "line\n" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
}

func TestReadFileLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: a terabyte would be read in full without the size check.
	if err := f.Truncate(1 << 40); err != nil {
		f.Truncate(64 << 20)
	}
	f.Close()
	if _, err := ReadFile(path, 4<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadFile of an oversized file = %v, want ErrTooLarge", err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadFile of a missing file = %v, want ErrNotExist", err)
	}
}

// TestReadRegular: a file the operator named is read through a symlink
// (dotfile managers link them), but a FIFO, a directory or an oversized
// file is refused at once. The FIFO read runs in a goroutine so that a
// blocking open fails the test instead of hanging it.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "council-drift.map")
	if err := os.WriteFile(target, []byte("a = b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadRegular(link, 100); err != nil || string(got) != "a = b\n" {
		t.Fatalf("ReadRegular(symlink) = %q, %v; want the target's bytes", got, err)
	}
	if _, err := ReadRegular(target, 3); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadRegular over the limit = %v, want ErrTooLarge", err)
	}
	fifo := filepath.Join(dir, "fifo")
	fifokit.Make(t, fifo)
	for _, path := range []string{fifo, dir} {
		err := fifokit.Refused(t, "ReadRegular("+path+")", func() error { _, err := ReadRegular(path, 100); return err })
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("ReadRegular(%s) = %v, want ErrNotRegular", path, err)
		}
	}
	if _, err := ReadRegular(filepath.Join(dir, "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadRegular of a missing file = %v, want ErrNotExist", err)
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "council-guardian.json")
	now := time.Now()
	old := now.Add(-time.Hour)
	files := map[string]bool{ // name -> removed
		".council-guardian.json.tmp-1":        true,
		".council-guardian.json.tmp-2":        false, // recent
		".council-guardian.json.tmpx":         false, // not our pattern
		".council-guardian.outbox.json.tmp-3": false, // another file's
		".council-canary.json.tmp-4":          false, // another probe's
		"council-guardian.json":               false,
	}
	for name := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, nil, 0o600)
		if name != ".council-guardian.json.tmp-2" {
			os.Chtimes(p, old, old)
		}
	}
	removed, err := RemoveStale(path, 10*time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 {
		t.Errorf("removed %q, want one file", removed)
	}
	for name, gone := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if (err != nil) != gone {
			t.Errorf("%s: removed=%v, want %v", name, err != nil, gone)
		}
	}
}

func TestWriteFileErrorIsStable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	// A directory at the target: the rename fails the same way every time,
	// for root too.
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	err1 := WriteFile(path, []byte("x"), 0o600)
	err2 := WriteFile(path, []byte("x"), 0o600)
	if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
		t.Fatalf("errors differ between attempts (a temp name leaked in?):\n%v\n%v", err1, err2)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".state.json.tmp-*")); len(m) != 0 {
		t.Fatalf("temp files left behind: %q", m)
	}
}
