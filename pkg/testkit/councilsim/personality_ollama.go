package councilsim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"
)

// The ollama personality is Ollama, as ollama/ollama docs/api.md documents
// it, corrected where Ollama 0.17.4 answered otherwise (the real tier
// records it: pkg/server/backend/testdata/ollama/real-0.17.4, compared by
// shape in pkg/testkit/realollama):
//
//	GET /             "Ollama is running"
//	GET /api/version  {"version": "0.12.3"}
//	GET /api/ps       loaded models: name, model, size, digest, details,
//	                  expires_at, size_vram, context_length (the simulator's
//	                  window: DefaultContextWindow, Ollama's vram-based
//	                  default on a small GPU, unless set)
//	GET /api/tags     local models: name, model, modified_at, size, digest, details
//	GET /v1/models    the local models (downloads, not the loaded ones)
//	anything else     404 "404 page not found" (Go's default)
//
// Its OpenAI-compatible chat (openai/openai.go and middleware/openai.go in
// ollama/ollama) always carries system_fingerprint "fp_ollama"; every
// stream chunk's delta has the role and a content (the last one "");
// errors are {"error": {"message", "type", "param": null, "code": null}}.
//
// The first --model is loaded, fully in GPU memory, expiring after the
// default keep_alive of 5 minutes. Faults: unloaded (/api/ps empty),
// on_cpu (size_vram < size), cpu_only (size_vram 0: a host without a
// GPU), expiring (expires_at in 10 seconds),
// version_changed (another version and another digest for the weights),
// cold (/api/ps empty until a chat loads the model, which takes
// --load-time: Ollama loads a model on the first request after its
// keep-alive unloaded it), replaced (the name listed twice in /api/ps
// after `ollama create` replaced the loaded model: new digest first, old
// second, as a real Ollama 0.17.4 lists them).
const (
	ollamaVersion        = "0.12.3"
	ollamaVersionChanged = "0.12.4"
	ollamaModelSize      = int64(5137025024)
	ollamaKeepAlive      = 5 * time.Minute
	ollamaFingerprint    = "fp_ollama"
)

// ollamaError writes an error as Ollama's OpenAI layer does
// (openai.NewError): the type is invalid_request_error for a 400 and
// api_error otherwise, and param and code are null.
func ollamaError(w http.ResponseWriter, status int, msg string) {
	typ := "api_error"
	if status == http.StatusBadRequest {
		typ = "invalid_request_error"
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

func ollamaDigest(name string) string {
	sum := sha256.Sum256([]byte("council-sim weights " + name))
	return hex.EncodeToString(sum[:])
}

func ollamaDetails() map[string]any {
	return map[string]any{"parent_model": "", "format": "gguf", "family": "llama", "families": []string{"llama"},
		"parameter_size": "27B", "quantization_level": "Q4_0"}
}

func (s *Sim) ollamaRoutes(mux *http.ServeMux) {
	digest := func(name string) string {
		if f := s.BackendFault(); f == BackendFaultVersionChanged || f == BackendFaultReplaced {
			return ollamaDigest(name + " v2")
		}
		return ollamaDigest(name)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "Ollama is running")
	})
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) {
		v := ollamaVersion
		if s.BackendFault() == BackendFaultVersionChanged {
			v = ollamaVersionChanged
		}
		writeJSON(w, http.StatusOK, map[string]string{"version": s.selfWord(v)})
	})
	mux.HandleFunc("GET /api/ps", func(w http.ResponseWriter, r *http.Request) {
		models := []map[string]any{}
		fault := s.BackendFault()
		if fault != BackendFaultUnloaded && fault != BackendFaultCold {
			name := s.loadedModel()
			vram, expires := ollamaModelSize, s.now().Add(ollamaKeepAlive)
			switch fault {
			case BackendFaultOnCPU:
				vram = ollamaModelSize * 6 / 10
			case BackendFaultCPUOnly:
				vram = 0
			}
			if fault == BackendFaultExpiring {
				expires = s.now().Add(10 * time.Second)
			}
			m := map[string]any{"name": name, "model": name, "size": ollamaModelSize,
				"digest": digest(name), "details": ollamaDetails(), "expires_at": expires.Format(time.RFC3339Nano), "size_vram": vram}
			if win := s.ContextWindow(); win > 0 {
				m["context_length"] = win
			}
			models = append(models, m)
			if fault == BackendFaultReplaced {
				// The old weights' runner stays loaded until its own
				// keep-alive ends, listed after the new one.
				old := map[string]any{}
				for k, v := range m {
					old[k] = v
				}
				old["digest"], old["expires_at"] = ollamaDigest(name), s.now().Add(ollamaKeepAlive/2).Format(time.RFC3339Nano)
				models = append(models, old)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"models": models})
	})
	mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, r *http.Request) {
		models := []map[string]any{}
		for _, name := range s.models {
			models = append(models, map[string]any{"name": name, "model": name, "modified_at": "2026-11-01T08:06:48.639712648-07:00",
				"size": ollamaModelSize, "digest": digest(name), "details": ollamaDetails()})
		}
		writeJSON(w, http.StatusOK, map[string]any{"models": models})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusNotFound, "404 page not found\n")
	})
}
