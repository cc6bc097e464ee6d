package launchctl

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"howett.net/plist"
)

// writeShellAgent writes a plist whose program is /bin/sh -c script.
func (f *fakeLaunchd) writeShellAgent(label, script string, keepAlive bool) string {
	f.t.Helper()
	path := filepath.Join(f.dir, label+".plist")
	p := map[string]any{
		"Label":            label,
		"ProgramArguments": []string{"/bin/sh", "-c", script},
		"KeepAlive":        keepAlive,
		"RunAtLoad":        true,
	}
	b, err := plist.MarshalIndent(p, plist.XMLFormat, "\t")
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// printUntil polls launchctl print until ok holds (each print lets the
// fake notice a dead program, as launchd would at once).
func printUntil(t *testing.T, r *Runner, label string, ok func(*ServiceInfo) bool) *ServiceInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var info *ServiceInfo
	var err error
	for ctx.Err() == nil {
		if info, err = r.Print(ctx, label); err == nil && ok(info) {
			return info
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("print %s never satisfied the condition: last %+v, %v", label, info, err)
	return nil
}

// The fake launchd reports how a program ended, as launchd does: the
// terminating signal of a crash, and the runs count that rises when it
// restarts a KeepAlive job on its own.
func TestFakeLaunchdReportsHowAProgramEnded(t *testing.T) {
	f := newFake(t)
	r := f.runner()
	ctx := context.Background()

	t.Run("signal, restarted by KeepAlive", func(t *testing.T) {
		plistPath := f.writeShellAgent("com.test.crasher", "sleep 0.2; kill -SEGV $$", true)
		if err := r.Bootstrap(ctx, plistPath); err != nil {
			t.Fatal(err)
		}
		info := printUntil(t, r, "com.test.crasher", func(s *ServiceInfo) bool { return s.Runs >= 2 && s.LastSignal != "" })
		if info.LastSignalNumber != int(syscall.SIGSEGV) || info.LastSignal != "Segmentation fault: 11" ||
			info.ExitCause() != "signal 11 (Segmentation fault: 11)" {
			t.Fatalf("crash reported as %q (%d), cause %q", info.LastSignal, info.LastSignalNumber, info.ExitCause())
		}
	})
	t.Run("non-zero exit", func(t *testing.T) {
		plistPath := f.writeShellAgent("com.test.exiter", "exit 3", false)
		if err := r.Bootstrap(ctx, plistPath); err != nil {
			t.Fatal(err)
		}
		info := printUntil(t, r, "com.test.exiter", func(s *ServiceInfo) bool { return !s.Running() && s.LastExitKnown })
		if info.LastExitCode != 3 || info.LastSignal != "" || info.Runs != 1 || !info.Abnormal() {
			t.Fatalf("exit 3 reported as %+v", info)
		}
	})
}
