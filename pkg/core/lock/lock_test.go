package lock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as a helper process: with LOCK_HELPER set, the test
// binary takes the named lock, says so, and holds it until killed. That
// gives the tests a real second process, which is what flock is about.
func TestMain(m *testing.M) {
	if p := os.Getenv("LOCK_HELPER"); p != "" {
		l, err := TryLock(p)
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func holdInOtherProcess(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCK_HELPER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if got := strings.TrimSpace(string(buf[:n])); got != "locked" {
		t.Fatalf("helper did not take the lock: %q", got)
	}
}

func TestTryLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "probe.lock")

	t.Run("free lock is taken and released", func(t *testing.T) {
		l, err := TryLock(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Release(); err != nil {
			t.Fatal(err)
		}
		l2, err := TryLock(path)
		if err != nil {
			t.Fatalf("relock after release: %v", err)
		}
		l2.Release()
	})

	t.Run("held by another process", func(t *testing.T) {
		holdInOtherProcess(t, path)
		_, err := TryLock(path)
		if !errors.Is(err, ErrHeld) {
			t.Fatalf("got %v, want ErrHeld", err)
		}
	})
}

func TestAcquireWaitsAndCancels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remediation.lock")
	holdInOtherProcess(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Acquire(ctx, path)
	if !errors.Is(err, ErrHeld) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrHeld and DeadlineExceeded", err)
	}
}

func TestAcquireFree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remediation.lock")
	l, err := Acquire(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := TryLock(path); err == nil {
		// flock locks are per open file description, so a second open in
		// the same process conflicts too; that is what makes this check
		// meaningful.
		t.Fatal("second TryLock succeeded while Acquire holds the lock")
	}
}

func TestTryLockRefusesSymlinkAndFIFO(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere", "created")
	link := filepath.Join(dir, "council-guardian.lock")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if l, err := TryLock(link); err == nil || !strings.Contains(err.Error(), "symlink") {
		l.Release()
		t.Fatalf("TryLock through a symlink = %v, want a refusal naming the symlink", err)
	}
	if _, err := os.Lstat(filepath.Dir(target)); err == nil {
		t.Fatalf("the symlink's target directory was created")
	}
	fifo := filepath.Join(dir, "fifo.lock")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := TryLock(fifo); err == nil {
		l.Release()
		t.Fatalf("TryLock on a FIFO succeeded")
	}
}
