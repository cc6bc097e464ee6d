package guardian

import (
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/core/redact"
)

// Every row of the table is a promote or a restart, with a reason, and the
// two default lists are exactly its rows.
func TestFatalSignatureTable(t *testing.T) {
	promote, restart := map[string]bool{}, map[string]bool{}
	for _, s := range fatalSignatures {
		if s.Text == "" || s.Why == "" {
			t.Errorf("row %+v lacks text or reason", s)
		}
		switch s.Action {
		case actionPromote:
			promote[s.Text] = true
		case actionRestart:
			restart[s.Text] = true
		default:
			t.Errorf("row %q: action %q", s.Text, s.Action)
		}
	}
	if len(promote) != len(defaultFatalSignatures) || len(restart) != len(defaultRestartSignatures) {
		t.Fatalf("defaults do not match the table: %d/%d promote, %d/%d restart",
			len(defaultFatalSignatures), len(promote), len(defaultRestartSignatures), len(restart))
	}
	// The operators' crashes the table must know, and what each does.
	for text, want := range map[string]fatalAction{
		"kIOGPUCommandBufferCallbackErrorOutOfMemory": actionRestart,
		"[METAL] Command buffer execution failed":     actionRestart,
		"Insufficient Memory":                         actionRestart,
		"libc++abi: terminating":                      actionRestart,
		"EngineDeadError":                             actionRestart,
		"CUDA out of memory":                          actionRestart,
		"Abort trap":                                  actionRestart,
		"Bus error":                                   actionRestart,
		"Segmentation fault":                          actionPromote,
		"Failed to load the default metallib":         actionPromote,
	} {
		if (want == actionPromote && !promote[text]) || (want == actionRestart && !restart[text]) {
			t.Errorf("%q should %s", text, want)
		}
	}
}

func TestClassifyFatal(t *testing.T) {
	chat := "/v1/chat/completions"
	for _, tc := range []struct {
		name   string
		log    []byte
		action fatalAction
		sig    string
	}{
		{"metal oom restarts", lines("loading", "Error: kIOGPUCommandBufferCallbackErrorOutOfMemory (00000008)"), actionRestart, "kIOGPUCommandBufferCallbackErrorOutOfMemory"},
		{"missing metallib promotes", lines("MLX error: Failed to load the default metallib. library not found"), actionPromote, "Failed to load the default metallib"},
		{"a newer crash beats an older load failure", lines("Failed to load the default metallib", "libc++abi: terminating due to uncaught exception"), actionRestart, "libc++abi: terminating"},
		{"a newer load failure beats an older crash", lines("EngineDeadError: engine loop died", "library not found for -lmlx"), actionPromote, "library not found"},
		{"served since: nothing", lines("CUDA out of memory", access(now, chat)), "", ""},
		{"case-insensitive", lines("BUS ERROR"), actionRestart, "Bus error"},
		{"nothing", lines("all good"), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, action, ok := classifyFatal(tc.log, defaultFatalSignatures, defaultRestartSignatures, defaultBusyMarker)
			if ok != (tc.action != "") || action != tc.action || f.Signature != tc.sig {
				t.Fatalf("classifyFatal = %+v, %q, %v; want %q %q", f, action, ok, tc.action, tc.sig)
			}
		})
	}
}

func TestCauseLines(t *testing.T) {
	sigs := append(append([]string(nil), defaultFatalSignatures...), defaultRestartSignatures...)
	var log []string
	for i := range 8 {
		log = append(log, "noise", "crash "+string(rune('a'+i))+": Abort trap: 6")
	}
	got := causeLines(lines(log...), sigs, maxCauseLines)
	if len(got) != maxCauseLines || got[0] != "crash d: Abort trap: 6" || got[4] != "crash h: Abort trap: 6" {
		t.Fatalf("want the newest 5, oldest first: %q", got)
	}

	redact.AddSecret("s3cret-token-value")
	t.Cleanup(redact.Reset)
	long := "[METAL] Command buffer execution failed: Authorization: Bearer s3cret-token-value " + strings.Repeat("x", 400)
	got = causeLines(lines(long), sigs, maxCauseLines)
	if len(got) != 1 || strings.Contains(got[0], "s3cret") || len(got[0]) > maxCauseLine+len("…") {
		t.Fatalf("cause line not redacted or not cut: %q", got)
	}
	if got := causeLines(lines("fine"), sigs, maxCauseLines); got != nil {
		t.Fatalf("no match: %q", got)
	}
}

// FuzzCauseLines: any log gives at most max redacted, bounded lines.
func FuzzCauseLines(f *testing.F) {
	f.Add([]byte("Abort trap: 6\nBus error\r\n\xff"), 5)
	f.Add([]byte(strings.Repeat("CUDA out of memory\n", 10)), 2)
	sigs := append(append([]string(nil), defaultFatalSignatures...), defaultRestartSignatures...)
	f.Fuzz(func(t *testing.T, log []byte, max int) {
		got := causeLines(log, sigs, max)
		if len(got) > max && len(got) > 0 {
			t.Fatalf("%d lines, max %d", len(got), max)
		}
		for _, l := range got {
			if len(l) > maxCauseLine+len("…") {
				t.Fatalf("line of %d bytes", len(l))
			}
		}
		classifyFatal(log, defaultFatalSignatures, defaultRestartSignatures, defaultBusyMarker)
	})
}
