package backend

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/server/backend/detection"
	"github.com/sanctum/council-probes/pkg/server/transport"
)

// CacheFile is the name of the detection cache in the state directory. All
// probes share it: one detection a day serves them all, and council-status
// reads it (through package detection).
const CacheFile = detection.CacheFile

// DetectionMaxAge is how long a detection is trusted. A server can be
// replaced under the same URL (an upgrade, another server on the port), so
// detection runs again after this, after a restart (Forget), and whenever
// the URL changes.
const DetectionMaxAge = 24 * time.Hour

// GenericMaxAge is how long "generic" is trusted: it is the absence of
// evidence (a server caught mid-restart shows none), so it is asked again
// sooner.
const GenericMaxAge = time.Hour

// Cached is the detection cache's content.
type Cached = detection.Cached

// Resolved is the backend a tick uses.
type Resolved struct {
	Detection
	// Configured: --backend named it; nothing was detected.
	Configured bool `json:"configured,omitempty"`
	// Cached: the detection came from the cache file.
	Cached bool `json:"cached,omitempty"`
	// DetectError says why detection failed; Kind is then Generic for this
	// tick (today's rules) and nothing is cached.
	DetectError string `json:"detect_error,omitempty"`
	// Undetected: the server could not be asked (down, hung, refused our
	// credentials). Kind is Generic for the rules, but nothing says the
	// server is generic: Label says KindUnknown.
	Undetected bool `json:"undetected,omitempty"`
}

// KindUnknown is the label of a server that could not be detected.
const KindUnknown Kind = "unknown"

// Label is the backend as events name it: the kind, or Unknown when the
// detection failed (a server that is down is not a generic server).
func (r Resolved) Label() Kind {
	if r.Undetected {
		return KindUnknown
	}
	return r.Kind
}

// Resolve returns the backend to use: the configured kind, or (auto) the
// cached detection for c's URL when younger than DetectionMaxAge, or a
// fresh detection, which is then cached. When detection fails the tick
// runs as generic and the failure is reported, not cached.
func Resolve(ctx context.Context, setting Kind, c *transport.Client, stateDir string, now time.Time) Resolved {
	if setting != Auto && setting != "" {
		return Resolved{Detection: Detection{Kind: setting, Evidence: "configured with --backend"}, Configured: true}
	}
	path := filepath.Join(stateDir, CacheFile)
	if cached, err := LoadCache(path); err == nil && cached.URL == redact.URL(c.BaseURL) &&
		now.Sub(cached.DetectedAt) < maxAge(cached.Kind) && !cached.DetectedAt.After(now) {
		if _, err := ParseKind(string(cached.Kind)); err == nil && cached.Kind != Auto {
			return Resolved{Detection: cached.Detection, Cached: true}
		}
	}
	d, err := Detect(ctx, c)
	if err != nil {
		return Resolved{Detection: Detection{Kind: Generic, Evidence: "detection failed"}, DetectError: text.Excerpt(err.Error(), text.MaxIdent), Undetected: true}
	}
	b, _ := json.MarshalIndent(Cached{Detection: d, URL: redact.URL(c.BaseURL), DetectedAt: now.UTC()}, "", "  ")
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return Resolved{Detection: d, DetectError: "detected, but the cache was not written: " + text.Excerpt(err.Error(), text.MaxIdent)}
	}
	return Resolved{Detection: d}
}

// LoadCache reads the detection cache (bounded: it is small).
func LoadCache(path string) (Cached, error) { return detection.LoadCache(path) }

// Forget drops the cached detection, so the next tick detects again: after
// the guardian restarts the server, which may come back as another one.
func Forget(stateDir string) error {
	err := os.Remove(filepath.Join(stateDir, CacheFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func maxAge(k Kind) time.Duration {
	if k == Generic {
		return GenericMaxAge
	}
	return DetectionMaxAge
}
