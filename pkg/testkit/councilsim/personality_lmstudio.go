package councilsim

import (
	"fmt"
	"net/http"
)

// The lmstudio personality is LM Studio's server:
//
//	GET /api/v0/models          every downloaded model with "state":
//	                            "loaded" or "not-loaded" (lmstudio-ai/docs
//	                            1_developer/2_rest/endpoints.mdx)
//	GET /api/v0/models/{model}  one of them
//	GET /v1/models              the OpenAI list
//	anything else               200 {"error":"Unexpected endpoint or method. (GET /x)"}
//	                            (lmstudio-ai/lmstudio-bug-tracker#618): a
//	                            200 that proves nothing
//
// The first --model is loaded. Fault: unloaded (its state is not-loaded).
func (s *Sim) lmstudioRoutes(mux *http.ServeMux) {
	entry := func(i int, id string) map[string]any {
		state := "not-loaded"
		if i == 0 && s.BackendFault() != BackendFaultUnloaded {
			state = "loaded"
		}
		return map[string]any{"id": id, "object": "model", "type": "llm", "publisher": "council-sim", "arch": "llama",
			"compatibility_type": "mlx", "quantization": "4bit", "state": state, "max_context_length": 32768}
	}
	mux.HandleFunc("GET /api/v0/models", func(w http.ResponseWriter, r *http.Request) {
		data := []map[string]any{}
		for i, id := range s.models {
			data = append(data, entry(i, id))
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	})
	mux.HandleFunc("GET /api/v0/models/{model...}", func(w http.ResponseWriter, r *http.Request) {
		for i, id := range s.models {
			if id == r.PathValue("model") {
				writeJSON(w, http.StatusOK, entry(i, id))
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("Model %q not found", r.PathValue("model"))})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"error": fmt.Sprintf("Unexpected endpoint or method. (%s %s)", r.Method, r.URL.Path)})
	})
}
