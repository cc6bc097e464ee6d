package integrity

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// startPrimary runs bin (a copy of sleep) as the "primary" and writes its
// pid file; the process is killed at cleanup.
func startPrimary(t *testing.T, bin, pidFile string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func stop(cmd *exec.Cmd) { cmd.Process.Kill(); cmd.Wait() }

func TestStaleCheckRealProcess(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sanctum-mlx")
	pidFile := filepath.Join(dir, "sanctum-mlx.pid")
	probetest.CopyFile(t, "/bin/sleep", bin, 0o755)
	sc := &staleCheck{Source: pidFromFile, PIDFile: pidFile}
	ctx := context.Background()

	cmd := startPrimary(t, bin, pidFile)
	rep, err := sc.Check(ctx, bin)
	if err != nil {
		t.Fatalf("fresh process: %v", err)
	}
	if rep.PID != cmd.Process.Pid || rep.Running != rep.Disk || rep.Exe != bin {
		t.Fatalf("fresh process report %+v", rep)
	}
	old := rep.Running

	// Rebuild: a new file renamed over the old one, as a linker does.
	probetest.CopyFile(t, "/bin/sleep", bin, 0o755)
	rep, err = sc.Check(ctx, bin)
	if !errors.Is(err, errStale) {
		t.Fatalf("after a rebuild: %v, want ErrStale", err)
	}
	if rep.Running.Ino != old.Ino || rep.Disk.Ino == old.Ino || rep.Disk.Ino == 0 {
		t.Errorf("want running = old inode %d and disk = the new one, got %+v", old.Ino, rep)
	}
	for _, ino := range []uint64{rep.Running.Ino, rep.Disk.Ino} {
		if !strings.Contains(err.Error(), fmt.Sprint(ino)) {
			t.Errorf("error %q does not name inode %d", err, ino)
		}
	}

	// A restart clears it.
	stop(cmd)
	startPrimary(t, bin, pidFile)
	if _, err := sc.Check(ctx, bin); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
}

func TestStaleCheckNotRunning(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sanctum-mlx")
	probetest.CopyFile(t, "/bin/sleep", bin, 0o755)
	pidFile := filepath.Join(dir, "pid")
	tests := []struct {
		name  string
		setup func(t *testing.T)
		want  string
	}{
		{"no pid file", func(t *testing.T) {}, "no pid file"},
		{"process exited", func(t *testing.T) { stop(startPrimary(t, bin, pidFile)) }, "no process"},
		{"pid file names another program", func(t *testing.T) { startPrimary(t, "/bin/sleep", pidFile) }, "not " + bin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(pidFile)
			tt.setup(t)
			_, err := (&staleCheck{Source: pidFromFile, PIDFile: pidFile}).Check(context.Background(), bin)
			if !errors.Is(err, errNotRunning) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want ErrNotRunning saying %q", err, tt.want)
			}
		})
	}
}

func TestStaleCheckBinaryDeletedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sanctum-mlx")
	pidFile := filepath.Join(dir, "pid")
	probetest.CopyFile(t, "/bin/sleep", bin, 0o755)
	startPrimary(t, bin, pidFile)
	os.Remove(bin)
	rep, err := (&staleCheck{Source: pidFromFile, PIDFile: pidFile}).Check(context.Background(), bin)
	if !errors.Is(err, errStale) || rep.DiskErr == nil || rep.Exe != bin {
		t.Errorf("Check = %+v, %v; want ErrStale with the disk error, exe named without (deleted)", rep, err)
	}
}

func TestPIDListeningOnRealSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	pid, err := pidListeningOn("/proc", port)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("PIDListeningOn(%d) = %d, %v; want this test process %d", port, pid, err, os.Getpid())
	}
	ln.Close()
	if _, err := pidListeningOn("/proc", port); !errors.Is(err, errNotRunning) {
		t.Errorf("closed listener: %v, want ErrNotRunning", err)
	}
}
