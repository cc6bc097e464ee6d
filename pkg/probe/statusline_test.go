package probe

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/core/alert"
)

// The plugin status line names the failing checks with a short reason each
// and stays a few hundred bytes, however many checks fail and however long
// their summaries (the full text is in the log and the alert).
func TestStatusLineNamesFailingChecksWithinBounds(t *testing.T) {
	e := newEnv(t)
	p := testProbe(false)
	deployed := filepath.Join(e.home, "Library", "LaunchAgents", "com.sanctum.mlx.plist")
	long := fmt.Sprintf("differs from HEAD 7333a6300b8f:deploy/com.sanctum.mlx.plist: deployed %s sha256 %s, committed sha256 %s",
		deployed, strings.Repeat("68", 32), strings.Repeat("cf", 32))
	p.Tick = func(ctx context.Context, t *Tick) error {
		t.Pass("fine", "probe_ok")
		for i := range 12 {
			t.Fail(fmt.Sprintf("drifted:~/file%02d", i), "drifted", alert.Error, long)
		}
		t.Fail("noise", "repo_dirty", alert.Info, "info never reaches the status line")
		return nil
	}
	code, out := e.run(t, p)
	if code != ExitCritical {
		t.Fatalf("exit %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	line := lines[len(lines)-1]
	text, _, ok := strings.Cut(line, " |")
	if !ok {
		t.Fatalf("no perfdata in %q", line)
	}
	text = strings.TrimPrefix(text, "COUNCIL TESTPROBE CRITICAL - ")
	if len(text) > statusTextMax {
		t.Errorf("status text is %d bytes, want at most %d:\n%s", len(text), statusTextMax, text)
	}
	for _, want := range []string{"drifted:~/file00: differs from HEAD 7333a6300b8f:deploy/com.sanctum.mlx.plist", "drifted:~/file01: ", "more"} {
		if !strings.Contains(text, want) {
			t.Errorf("status text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, e.home) || strings.Contains(text, "noise") {
		t.Errorf("status text shows $HOME in full or an info check:\n%s", text)
	}
	if strings.Contains(text, strings.Repeat("68", 32)) {
		t.Errorf("status text carries a full sha256; the reason should be short:\n%s", text)
	}
	// The full summary is not lost: it is the event's detail.
	if ev := find(e.events(t), "drifted"); ev == nil || ev["detail"] != long {
		t.Errorf("the event lost the full summary: %v", ev)
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\nb\r|c\x1b[2J\td\u202e"); got != "a; b; /c[2J d" {
		t.Errorf("oneLine = %q", got)
	}
}
