package probe

import (
	"context"
	"time"

	"github.com/sanctum/council-probes/pkg/server/backend"
)

// DetectTimeout bounds backend detection in a tick. Detection runs once a
// day (the answer is cached in the state dir), but a hung server must not
// hold the tick: after this the tick runs as generic and tries again next
// time.
const DetectTimeout = 3 * time.Second

// resolveBackend settles which server is behind --url (--backend, or the
// cached or fresh detection) and makes it a field of every later event. A
// detection that fails leaves the tick generic (today's rules) with a
// warning; a bad --backend value is a configuration error.
func (t *Tick) resolveBackend(ctx context.Context) {
	kind, err := backend.ParseKind(t.Common.Backend)
	if err != nil {
		t.Unknown(CheckBackend, "backend_config_error", err.Error())
		kind = backend.Generic
	} else {
		t.Clear(CheckBackend)
	}
	dctx, cancel := context.WithTimeout(ctx, DetectTimeout)
	defer cancel()
	r := backend.Resolve(dctx, kind, t.Client, t.Common.StateDir, t.Now())
	t.Backend = r
	t.Server, _ = backend.New(r.Kind, t.Client)
	// A server that could not be asked is unknown, not generic: the tick
	// still runs by the generic rules.
	t.Log = t.Log.With("backend", string(r.Label()))
	t.dispatch.Log = t.Log
	if r.DetectError != "" {
		t.Log.Warn("backend_detect_failed", "error", r.DetectError)
	} else if !r.Cached && !r.Configured {
		t.Log.Info("backend_detected", "evidence", r.Evidence)
	}
}

// ModelResident asks the server whether it has model loaded, where its
// backend can tell (known): Ollama's /api/ps, LM Studio's state,
// llama-server's sleep. known is false for a generic server, a model it
// does not list, or a question it does not answer within timeout (logged).
func (t *Tick) ModelResident(ctx context.Context, model string, timeout time.Duration) (resident, known bool) {
	if t.Server == nil || t.Backend.Kind == backend.Generic {
		return false, false
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ms, err := t.Server.Models(ctx)
	if err != nil {
		t.Log.Warn("backend_unanswered", "what", "models", "error", err.Error())
		return false, false
	}
	m, ok := ms.Find(model)
	if !ms.Known || !ok || m.Residency == backend.ResidencyUnknown {
		return false, false
	}
	return m.Residency == backend.Resident, true
}
