package pace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/host/accesslog"
	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/server/openai"
)

// TestBusyDuringEachFormat: what the primary logged between the mark and
// the end of the answer makes the sample busy, in each server's format;
// the probe's own request and lines logged before the mark never do. Gin
// lines (Ollama) were not read before: a busy Ollama was judged, and
// called degraded.
func TestBusyDuringEachFormat(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 6, 52, 24, 300e6, time.Local)
	tm := openai.Timings{Start: t0, FirstToken: t0.Add(800 * time.Millisecond), LastToken: t0.Add(1100 * time.Millisecond), End: t0.Add(1110 * time.Millisecond)}
	gin := func(end time.Time, lat, method, path string) string {
		return "[GIN] " + end.Format("2006/01/02 - 15:04:05") + " | 200 | " + lat + " |       127.0.0.1 | " + method + "     \"" + path + "\""
	}
	ownGin := gin(tm.End, "1.102s", "POST", "/v1/chat/completions")
	llama := func(path string) string { return "srv  log_server_r: request: POST " + path + " 127.0.0.1 200" }
	uvicorn := func(path string) string { return `INFO:     127.0.0.1:40522 - "POST ` + path + ` HTTP/1.1" 200 OK` }
	for _, tc := range []struct {
		name          string
		before, after []string
		want          int
	}{
		{"ollama: only the probe's own request", nil, []string{ownGin}, 0},
		{"ollama: another client's long chat ended during the sample (queued behind it)",
			nil, []string{gin(t0.Add(500*time.Millisecond), "10.5s", "POST", "/v1/chat/completions"), ownGin}, 1},
		{"ollama: native /api/chat of another client", nil, []string{gin(t0.Add(900*time.Millisecond), "3s", "POST", "/api/chat")}, 1},
		{"ollama: the guardian's questions are not work",
			nil, []string{gin(t0.Add(400*time.Millisecond), "512.3µs", "GET", "/api/ps"), gin(t0.Add(400*time.Millisecond), "100µs", "GET", "/api/version"), ownGin}, 0},
		{"ollama: a chat that ended before the sample, logged late", nil, []string{gin(t0.Add(-2*time.Second), "1s", "POST", "/v1/chat/completions"), ownGin}, 0},
		{"ollama: lines before the mark never count", []string{gin(t0, "10s", "POST", "/v1/chat/completions")}, []string{ownGin}, 0},
		{"ollama: our line not logged yet, another's is", nil, []string{gin(t0.Add(500*time.Millisecond), "10.5s", "POST", "/v1/chat/completions")}, 1},
		{"llama-server: one chat line is the probe's", nil, []string{llama("/v1/chat/completions")}, 0},
		{"llama-server: two are one other", nil, []string{llama("/v1/chat/completions"), llama("/completion")}, 1},
		{"llama-server: health checks are not work", nil, []string{llama("/health"), llama("/v1/chat/completions")}, 0},
		{"vllm: two chat lines", nil, []string{uvicorn("/v1/chat/completions"), uvicorn("/v1/chat/completions")}, 1},
		{"vllm: the model list is not work", nil, []string{uvicorn("/v1/models"), uvicorn("/v1/chat/completions")}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "primary.log")
			if err := os.WriteFile(log, []byte(lines(tc.before)), 0o600); err != nil {
				t.Fatal(err)
			}
			s := settings{PrimaryLog: log, BusyMarker: accesslog.DefaultMarker, BusyIgnore: accesslog.IgnoreWithPaths(backend.AskedPaths...), TailBytes: accesslog.DefaultTailBytes}
			mark := markLog(s)
			f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(lines(tc.after))
			f.Close()
			if got, errText := busyDuring(s, mark, tm); got != tc.want || errText != "" {
				t.Errorf("busyDuring = %d, %q; want %d", got, errText, tc.want)
			}
		})
	}
}

func lines(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}
