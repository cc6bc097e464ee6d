package councilsim

import (
	"fmt"
	"net/http"
)

// The llama-server personality is llama.cpp's server, as
// ggml-org/llama.cpp tools/server/README.md documents it:
//
//	GET /health, /v1/health  200 {"status": "ok"}, or while loading
//	                         503 {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
//	GET /props               model_path, build_info, total_slots, is_sleeping,
//	                         default_generation_settings.n_ctx (the window), ...
//	GET /metrics             llamacpp:* series (the server needs --metrics; the
//	                         simulator always serves them); no KV-cache ratio,
//	                         as in current builds
//	anything else            404 {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}
//
// Faults: loading (every endpoint but /health and /v1/models answers the
// 503), unloaded (is_sleeping: the server sleeps on idle and frees the
// model), version_changed (another build_info).
const (
	llamaBuild        = "b6000-0a1b2c3"
	llamaBuildChanged = "b6001-4d5e6f7"
	llamaLoadingBody  = `{"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}`
)

func (s *Sim) llamaModelPath() string { return "/models/" + s.loadedModel() + ".gguf" }

func (s *Sim) llamaRoutes(mux *http.ServeMux) {
	health := func(w http.ResponseWriter, r *http.Request) {
		if s.BackendFault() == BackendFaultLoading {
			writeJSONRaw(w, http.StatusServiceUnavailable, llamaLoadingBody)
			return
		}
		writeJSONRaw(w, http.StatusOK, `{"status": "ok"}`)
	}
	mux.HandleFunc("GET /health", health)
	mux.HandleFunc("GET /v1/health", health)
	mux.HandleFunc("GET /props", func(w http.ResponseWriter, r *http.Request) {
		fault := s.BackendFault()
		build := llamaBuild
		if fault == BackendFaultVersionChanged {
			build = llamaBuildChanged
		}
		settings := map[string]any{"id": 0, "id_task": -1, "speculative": false, "is_processing": false}
		if win := s.ContextWindow(); win > 0 {
			settings["n_ctx"] = win
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"default_generation_settings": settings,
			"total_slots":                 1,
			"model_path":                  s.llamaModelPath(),
			"chat_template":               "{{ messages }}",
			"modalities":                  map[string]bool{"vision": false},
			"build_info":                  s.selfWord(build),
			"is_sleeping":                 fault == BackendFaultUnloaded,
		})
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		running, waiting, tokens := s.reportedLoad()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, `# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total %[1]d
# HELP llamacpp:n_decode_total Total number of llama_decode() calls
# TYPE llamacpp:n_decode_total counter
llamacpp:n_decode_total %[1]d
# HELP llamacpp:requests_processing Number of requests processing.
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing %[2]d
# HELP llamacpp:requests_deferred Number of requests deferred.
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred %[3]d
`, tokens, running, waiting)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONRaw(w, http.StatusNotFound, `{"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}`)
	})
}

// llamaGate answers 503 "Loading model" while loading, except on /health
// (which says so itself) and /v1/models (whose meta is null while loading).
func (s *Sim) llamaGate(w http.ResponseWriter, r *http.Request) bool {
	if s.BackendFault() != BackendFaultLoading {
		return false
	}
	switch r.URL.Path {
	case "/health", "/v1/health", "/v1/models":
		return false
	}
	writeJSONRaw(w, http.StatusServiceUnavailable, llamaLoadingBody)
	return true
}
