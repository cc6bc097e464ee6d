// Package detection holds what the probes detected about the server behind
// the council URL, as the detection cache file stores it: the kind, the
// evidence and when. It is apart from package backend, which asks the
// server over HTTP, so that council-status, which only reads state files
// and must link no HTTP client (see "Binary size and dependencies" in
// docs/RELIABILITY.md), can show the detected backend.
package detection

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// Kind names a backend. Auto is a setting, never a detected kind.
type Kind string

// The kinds.
const (
	Auto        Kind = "auto"
	Generic     Kind = "generic"
	MLX         Kind = "mlx"
	LlamaServer Kind = "llama-server"
	VLLM        Kind = "vllm"
	Ollama      Kind = "ollama"
	LMStudio    Kind = "lmstudio"
)

// Detection is a detection's answer: the kind and what proved it.
type Detection struct {
	Kind     Kind   `json:"kind"`
	Evidence string `json:"evidence"`
}

// CacheFile is the name of the detection cache in the state directory. All
// probes share it: one detection a day serves them all, and council-status
// reads it.
const CacheFile = "council-backend.json"

// Cached is the detection cache's content.
type Cached struct {
	Detection
	URL        string    `json:"url"`
	DetectedAt time.Time `json:"detected_at"`
}

// maxCache bounds the read of the cache file: it is small.
const maxCache = 64 << 10

// LoadCache reads the detection cache (bounded: it is small).
func LoadCache(path string) (Cached, error) {
	f, err := atomicfile.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return Cached{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCache))
	if err != nil {
		return Cached{}, fmt.Errorf("read %s: %w", path, err)
	}
	var c Cached
	if err := json.Unmarshal(b, &c); err != nil {
		return Cached{}, fmt.Errorf("read %s: %w", path, err)
	}
	return c, nil
}
