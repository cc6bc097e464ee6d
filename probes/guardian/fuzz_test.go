package guardian

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLogScan feeds arbitrary log tails to the busy and fatal scans and the
// tail reader: they must never panic, and their answers must stay within
// what they promise.
func FuzzLogScan(f *testing.F) {
	f.Add([]byte(access(now.Add(-3*time.Second), "/v1/chat/completions")+"\n"), int64(64))
	f.Add([]byte("Segmentation fault\n"+access(now, "/v1/models")+"\n"), int64(16))
	f.Add([]byte("2026-04-20T12:00:00Z request completed\r\nOut of memory"), int64(1))
	f.Add([]byte("\n\n\xff\xfe request completed 9999-99-99T99:99:99Z"), int64(3))
	f.Add([]byte("2026-04-20T11:59:59.999999999+14:00 request completed"), int64(1<<20))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, log []byte, max int64) {
		age, busy := busyInLog(log, defaultBusyMarker, defaultBusyIgnore, now, defaultBusyWindow)
		if age < 0 || (busy && age > defaultBusyWindow) {
			t.Fatalf("busyInLog = (%s, %v)", age, busy)
		}
		if ts, ok := lastCompleted(log, defaultBusyMarker, defaultBusyIgnore, now); ok && ts.After(now.Add(futureSkew)) {
			t.Fatalf("lastCompleted returned a time beyond the allowed skew: %s", ts)
		}
		if fatal, ok := findFatal(log, defaultFatalSignatures, defaultBusyMarker); ok {
			known := false
			for _, s := range defaultFatalSignatures {
				known = known || s == fatal.Signature
			}
			if !known || len(fatal.Line) > 200+len("…") {
				t.Fatalf("findFatal = %+v", fatal)
			}
		}

		p := filepath.Join(dir, "log")
		if err := os.WriteFile(p, log, 0o600); err != nil {
			t.Fatal(err)
		}
		tail, err := readTail(p, max)
		if err != nil {
			t.Fatal(err)
		}
		bound := max
		if bound <= 0 {
			bound = defaultTailBytes
		}
		if int64(len(tail)) > bound || !bytes.HasSuffix(log, tail) {
			t.Fatalf("readTail(max=%d) = %q: not a bounded suffix of the log", max, tail)
		}
		if int64(len(log)) > bound && len(tail) > 0 && log[len(log)-len(tail)-1] != '\n' {
			t.Fatalf("readTail(max=%d) = %q starts inside a line", max, tail)
		}
	})
}
