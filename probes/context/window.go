package ctxwindow

import (
	"context"
	"fmt"
	"time"

	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/server/openai"
)

// askTimeout bounds each question to the server about itself, and the
// one-token request that loads an Ollama model.
const askTimeout = 2 * time.Minute

// reported is what the server says about its window.
type reported struct {
	// Tokens is the window, 0 when the server did not say.
	Tokens int
	// How says where it came from, or why there is none.
	How string
}

// serverWindow asks the server the window model gets. An Ollama model
// that is not loaded has none yet: it is loaded with a one-token request
// (what the needle would do anyway) and asked again.
func serverWindow(ctx context.Context, t *probe.Tick, client *openai.Client, model string) reported {
	if t.Server == nil || windowSource[t.Backend.Kind] == "" {
		return reported{How: fmt.Sprintf("the %s backend has no way to say its window (set --backend, or --expect-context)", t.Backend.Kind)}
	}
	ask := func() (backend.Model, bool, error) {
		actx, cancel := context.WithTimeout(ctx, askTimeout)
		defer cancel()
		ms, err := t.Server.Models(actx)
		if err != nil {
			return backend.Model{}, false, err
		}
		if m, ok := ms.Find(model); ok {
			return m, true, nil
		}
		if t.Backend.Kind == backend.LlamaServer && len(ms.Models) == 1 {
			// llama-server serves one model, whatever the request names.
			return ms.Models[0], true, nil
		}
		return backend.Model{}, false, nil
	}
	m, ok, err := ask()
	if err == nil && t.Backend.Kind == backend.Ollama && (!ok || m.ContextLength == nil) {
		t.Log.Info("context_model_load", "model", text.Excerpt(model, text.MaxIdent), "reason", "Ollama reports the window of a loaded model only")
		lctx, cancel := context.WithTimeout(ctx, askTimeout)
		_, lerr := client.Chat(lctx, openai.UserPrompt(model, "Say OK.", 1))
		cancel()
		if lerr != nil {
			return reported{How: "Ollama could not load the model to report its window: " + text.Excerpt(lerr.Error(), text.MaxIdent)}
		}
		m, ok, err = ask()
	}
	switch {
	case err != nil:
		return reported{How: fmt.Sprintf("the %s server did not say its window: %s", t.Backend.Kind, text.Excerpt(err.Error(), text.MaxIdent))}
	case !ok:
		return reported{How: fmt.Sprintf("the %s server does not list %s", t.Backend.Kind, text.Excerpt(model, text.MaxIdent))}
	case m.ContextLength == nil:
		return reported{How: fmt.Sprintf("the %s server reports no window for %s", t.Backend.Kind, text.Excerpt(model, text.MaxIdent))}
	}
	return reported{Tokens: *m.ContextLength, How: windowSource[t.Backend.Kind]}
}

// windowSource names where each backend reports its window.
var windowSource = map[backend.Kind]string{
	backend.Ollama:      "Ollama /api/ps context_length",
	backend.LlamaServer: "llama-server /props n_ctx",
	backend.VLLM:        "vLLM /v1/models max_model_len",
}
