package councilsim

import (
	"fmt"
	"net/http"
)

// The vllm personality is vLLM's OpenAI-compatible server:
//
//	GET /health   200 with an empty body; 503 with an empty body when the
//	              engine is dead (vllm-project/vllm
//	              vllm/entrypoints/serve/instrumentator/health.py)
//	GET /version  {"version": "..."}
//	GET /v1/models  each model with max_model_len, the window
//	              (vllm/entrypoints/openai/protocol.py ModelCard)
//	GET /metrics  vllm:num_requests_running, vllm:num_requests_waiting,
//	              vllm:kv_cache_usage_perc per engine and model_name
//	              (vllm-project/vllm docs/usage/metrics.md)
//	anything else 404 {"detail": "Not Found"} (FastAPI's default)
//
// Faults: engine_dead (/health 503 and chat 500 while /v1/models still
// answers), version_changed, kv_full (KV cache at 1.0, requests waiting).
const (
	vllmVersion        = "0.11.0"
	vllmVersionChanged = "0.11.1"
)

func (s *Sim) vllmRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if s.BackendFault() == BackendFaultEngineDead {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		v := vllmVersion
		if s.BackendFault() == BackendFaultVersionChanged {
			v = vllmVersionChanged
		}
		writeJSON(w, http.StatusOK, map[string]string{"version": s.selfWord(v)})
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		running, waiting, tokens := s.reportedLoad()
		kv := 0.02
		if s.BackendFault() == BackendFaultKVFull {
			running, waiting, kv = running+4, 3, 1.0
		}
		labels := fmt.Sprintf(`engine="0",model_name=%q`, s.loadedModel())
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprintf(w, `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{%[1]s} %[2]d.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{%[1]s} %[3]d.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{%[1]s} %[4]g
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{%[1]s} %[5]d.0
`, labels, running, waiting, kv, tokens)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONRaw(w, http.StatusNotFound, `{"detail":"Not Found"}`)
	})
}

// vllmGate fails chat with a 500 while the engine is dead; /v1/models
// still answers, because the API process outlives its engine.
func (s *Sim) vllmGate(w http.ResponseWriter, r *http.Request) bool {
	if s.BackendFault() != BackendFaultEngineDead || r.URL.Path != "/v1/chat/completions" {
		return false
	}
	writeError(w, http.StatusInternalServerError, "InternalServerError", "EngineCore encountered an issue. See stack trace (above) for the root cause.")
	return true
}
