package guardian

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/redact"
)

// Every row of the table is a promote or a restart, with a reason, and the
// two default lists are exactly its rows.
func TestFatalSignatureTable(t *testing.T) {
	promote, restart := map[string]bool{}, map[string]bool{}
	for _, s := range FatalSignatures {
		if s.Text == "" || s.Why == "" {
			t.Errorf("row %+v lacks text or reason", s)
		}
		switch s.Action {
		case ActionPromote:
			promote[s.Text] = true
		case ActionRestart:
			restart[s.Text] = true
		default:
			t.Errorf("row %q: action %q", s.Text, s.Action)
		}
	}
	if len(promote) != len(DefaultFatalSignatures) || len(restart) != len(DefaultRestartSignatures) {
		t.Fatalf("defaults do not match the table: %d/%d promote, %d/%d restart",
			len(DefaultFatalSignatures), len(promote), len(DefaultRestartSignatures), len(restart))
	}
	// The operators' crashes the table must know, and what each does.
	for text, want := range map[string]FatalAction{
		"kIOGPUCommandBufferCallbackErrorOutOfMemory": ActionRestart,
		"[METAL] Command buffer execution failed":     ActionRestart,
		"Insufficient Memory":                         ActionRestart,
		"libc++abi: terminating":                      ActionRestart,
		"EngineDeadError":                             ActionRestart,
		"CUDA out of memory":                          ActionRestart,
		"Abort trap":                                  ActionRestart,
		"Bus error":                                   ActionRestart,
		"Segmentation fault":                          ActionPromote,
		"Failed to load the default metallib":         ActionPromote,
	} {
		if (want == ActionPromote && !promote[text]) || (want == ActionRestart && !restart[text]) {
			t.Errorf("%q should %s", text, want)
		}
	}
}

func TestClassifyFatal(t *testing.T) {
	chat := "/v1/chat/completions"
	for _, tc := range []struct {
		name   string
		log    []byte
		action FatalAction
		sig    string
	}{
		{"metal oom restarts", lines("loading", "Error: kIOGPUCommandBufferCallbackErrorOutOfMemory (00000008)"), ActionRestart, "kIOGPUCommandBufferCallbackErrorOutOfMemory"},
		{"missing metallib promotes", lines("MLX error: Failed to load the default metallib. library not found"), ActionPromote, "Failed to load the default metallib"},
		{"a newer crash beats an older load failure", lines("Failed to load the default metallib", "libc++abi: terminating due to uncaught exception"), ActionRestart, "libc++abi: terminating"},
		{"a newer load failure beats an older crash", lines("EngineDeadError: engine loop died", "library not found for -lmlx"), ActionPromote, "library not found"},
		{"served since: nothing", lines("CUDA out of memory", access(now, chat)), "", ""},
		{"case-insensitive", lines("BUS ERROR"), ActionRestart, "Bus error"},
		{"nothing", lines("all good"), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, action, ok := ClassifyFatal(tc.log, DefaultFatalSignatures, DefaultRestartSignatures, DefaultBusyMarker)
			if ok != (tc.action != "") || action != tc.action || f.Signature != tc.sig {
				t.Fatalf("ClassifyFatal = %+v, %q, %v; want %q %q", f, action, ok, tc.action, tc.sig)
			}
		})
	}
}

func TestCauseLines(t *testing.T) {
	sigs := append(append([]string(nil), DefaultFatalSignatures...), DefaultRestartSignatures...)
	var log []string
	for i := range 8 {
		log = append(log, "noise", "crash "+string(rune('a'+i))+": Abort trap: 6")
	}
	got := CauseLines(lines(log...), sigs, MaxCauseLines)
	if len(got) != MaxCauseLines || got[0] != "crash d: Abort trap: 6" || got[4] != "crash h: Abort trap: 6" {
		t.Fatalf("want the newest 5, oldest first: %q", got)
	}

	redact.AddSecret("s3cret-token-value")
	t.Cleanup(redact.Reset)
	long := "[METAL] Command buffer execution failed: Authorization: Bearer s3cret-token-value " + strings.Repeat("x", 400)
	got = CauseLines(lines(long), sigs, MaxCauseLines)
	if len(got) != 1 || strings.Contains(got[0], "s3cret") || len(got[0]) > MaxCauseLine+len("…") {
		t.Fatalf("cause line not redacted or not cut: %q", got)
	}
	if got := CauseLines(lines("fine"), sigs, MaxCauseLines); got != nil {
		t.Fatalf("no match: %q", got)
	}
}

// FuzzCauseLines: any log gives at most max redacted, bounded lines.
func FuzzCauseLines(f *testing.F) {
	f.Add([]byte("Abort trap: 6\nBus error\r\n\xff"), 5)
	f.Add([]byte(strings.Repeat("CUDA out of memory\n", 10)), 2)
	sigs := append(append([]string(nil), DefaultFatalSignatures...), DefaultRestartSignatures...)
	f.Fuzz(func(t *testing.T, log []byte, max int) {
		got := CauseLines(log, sigs, max)
		if len(got) > max && len(got) > 0 {
			t.Fatalf("%d lines, max %d", len(got), max)
		}
		for _, l := range got {
			if len(l) > MaxCauseLine+len("…") {
				t.Fatalf("line of %d bytes", len(l))
			}
		}
		ClassifyFatal(log, DefaultFatalSignatures, DefaultRestartSignatures, DefaultBusyMarker)
	})
}
