package councilsim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// statusRecorder remembers the status a handler wrote. It forwards Flush
// through Unwrap, which http.ResponseController follows.
type statusRecorder struct {
	http.ResponseWriter
	status int
	// onStart, if set, is called once with the status when the response
	// starts (uvicorn logs then).
	onStart func(status int)
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		if r.onStart != nil {
			r.onStart(code)
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// The access-log formats the simulator can write: the council's own, and
// three real servers' (pkg/host/accesslog/testdata/formats cites where
// each comes from), so the probes' log readers meet the lines they will
// meet on a real host.
const (
	AccessLogCouncil     = "council"
	AccessLogGin         = "gin"          // Ollama
	AccessLogLlamaServer = "llama-server" // llama.cpp
	AccessLogUvicorn     = "uvicorn"      // vLLM
)

// AccessLogFormats lists them, the default first.
var AccessLogFormats = []string{AccessLogCouncil, AccessLogGin, AccessLogLlamaServer, AccessLogUvicorn}

// ginTimeLayout is gin's default logger's time layout, in local time.
const ginTimeLayout = "2006/01/02 - 15:04:05"

// accessLogged appends one line per request to the access log, in the
// configured format. The council format, the default, is the one the
// guardian's busy-skip was written for:
//
//	2026-11-27T01:02:03.456Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=12
//
// where a request whose client went away before the handler finished is
// logged as "WARN request canceled", because it did not complete. The
// other formats log as their servers do: gin and llama-server when the
// request ends (whatever the client did), uvicorn when the response
// starts.
func (s *Sim) accessLogged(h http.Handler) http.Handler {
	if s.cfg.AccessLog == nil {
		return h
	}
	format := s.cfg.AccessLogFormat
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &statusRecorder{ResponseWriter: w}
		if format == AccessLogUvicorn {
			rec.onStart = func(status int) {
				s.writeAccess(fmt.Sprintf("INFO:     %s - \"%s %s HTTP/%d.%d\" %d %s\n",
					r.RemoteAddr, r.Method, r.URL.RequestURI(), r.ProtoMajor, r.ProtoMinor, status, http.StatusText(status)))
			}
		}
		h.ServeHTTP(rec, r)
		end := s.now()
		status := rec.status
		if status == 0 {
			status = http.StatusOK // net/http sends 200 for a handler that wrote nothing
		}
		host, _, _ := strings.Cut(r.RemoteAddr, ":")
		switch format {
		case AccessLogUvicorn:
			if rec.status == 0 {
				rec.onStart(status)
			}
		case AccessLogGin:
			s.writeAccess(fmt.Sprintf("[GIN] %s | %3d | %13v | %15s | %-7s  %#v\n",
				end.In(time.Local).Format(ginTimeLayout), status, end.Sub(start), host, r.Method, r.URL.Path))
		case AccessLogLlamaServer:
			s.writeAccess(fmt.Sprintf("srv  log_server_r: request: %s %s %s %d\n", r.Method, r.URL.Path, host, status))
		default:
			level, msg := "INFO", "request completed"
			if r.Context().Err() != nil {
				level, msg = "WARN", "request canceled"
			}
			s.writeAccess(fmt.Sprintf("%s %s %s method=%s path=%s status=%d duration_ms=%d\n",
				end.UTC().Format(accessLogTimeLayout), level, msg, r.Method, r.URL.Path, status, end.Sub(start).Milliseconds()))
		}
	})
}

// writeAccess appends one line to the access log, in one Write.
func (s *Sim) writeAccess(line string) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if _, err := s.cfg.AccessLog.Write([]byte(line)); err != nil {
		s.log.Warn("write access log", "err", err)
	}
}

// ParseAccessLogFormat checks a format name; "" is the council's.
func ParseAccessLogFormat(f string) (string, error) {
	if f == "" {
		return AccessLogCouncil, nil
	}
	for _, ok := range AccessLogFormats {
		if f == ok {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown access-log format %q (want %s)", f, strings.Join(AccessLogFormats, "|"))
}
