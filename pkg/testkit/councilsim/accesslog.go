package councilsim

import (
	"fmt"
	"net/http"
)

// statusRecorder remembers the status a handler wrote. It forwards Flush
// through Unwrap, which http.ResponseController follows.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// accessLogged appends one line per request to the access log, in the
// format the guardian's busy-skip parses:
//
//	2026-11-27T01:02:03.456Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=12
//
// A request whose client went away before the handler finished is logged
// as "WARN request canceled", because it did not complete.
func (s *Sim) accessLogged(h http.Handler) http.Handler {
	if s.cfg.AccessLog == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		end := s.now()
		status := rec.status
		if status == 0 {
			status = http.StatusOK // net/http sends 200 for a handler that wrote nothing
		}
		level, msg := "INFO", "request completed"
		if r.Context().Err() != nil {
			level, msg = "WARN", "request canceled"
		}
		line := fmt.Sprintf("%s %s %s method=%s path=%s status=%d duration_ms=%d\n",
			end.UTC().Format(accessLogTimeLayout), level, msg, r.Method, r.URL.Path, status, end.Sub(start).Milliseconds())
		s.logMu.Lock()
		defer s.logMu.Unlock()
		if _, err := s.cfg.AccessLog.Write([]byte(line)); err != nil {
			s.log.Warn("write access log", "err", err)
		}
	})
}
