package councilsim

import "net/http"

// The mlx personality is mlx-lm's server, as ml-explore/mlx-lm
// mlx_lm/server.py serves it (do_GET, handle_health_check,
// handle_models_request):
//
//	GET /health     200 {"status": "ok"}
//	GET /v1/models  every downloaded MLX model (not the loaded one)
//	anything else   404 with the plain body "Not Found"
//
// It reports no loading state, version or metrics, so it has no backend
// faults of its own.
func (s *Sim) mlxRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSONRaw(w, http.StatusOK, `{"status": "ok"}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusNotFound, "Not Found")
	})
}

// writeJSONRaw writes a literal JSON body, byte for byte as the server
// documents it.
func writeJSONRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(body))
}
