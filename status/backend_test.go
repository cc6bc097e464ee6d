package status

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/server/backend"
)

// council-status shows the backend the probes detected, and only then.
func TestReportShowsDetectedBackend(t *testing.T) {
	h := fleet(t)
	if r := Collect(h.config(DefaultProbes...)); r.Backend != nil {
		t.Fatalf("Backend = %+v before any detection", r.Backend)
	}
	cached := backend.Cached{Detection: backend.Detection{Kind: backend.LlamaServer, Evidence: "GET /props has model_path /m.gguf"},
		URL: "http://127.0.0.1:1337", DetectedAt: time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)}
	b, _ := json.Marshal(cached)
	if err := os.WriteFile(filepath.Join(h.stateDir, backend.CacheFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := Collect(h.config(DefaultProbes...))
	if r.Backend == nil || !reflect.DeepEqual(*r.Backend, cached) {
		t.Fatalf("Backend = %+v, want %+v", r.Backend, cached)
	}
	var text bytes.Buffer
	if err := WriteText(&text, r, TextOptions{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "backend: llama-server at http://127.0.0.1:1337, detected 2026-12-02 15:00:00") {
		t.Errorf("text lacks the backend line:\n%s", text.String())
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"kind": "llama-server"`) && !strings.Contains(buf.String(), `"kind":"llama-server"`) {
		t.Errorf("JSON lacks the backend kind:\n%s", buf.String())
	}
	var back Report
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil || !reflect.DeepEqual(back.Backend, r.Backend) {
		t.Errorf("round trip: %v, %+v", err, back.Backend)
	}
}
