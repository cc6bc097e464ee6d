package accesslog

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// The request-log formats Parse reads. Each is a server's own, as its
// source writes it (the fixtures in testdata/ cite where):
//
//	council       2026-11-27T01:02:03.456Z INFO request completed method=POST path=/v1/chat/completions status=200 duration_ms=12
//	              (sanctum-mlx and council-sim: an RFC 3339 time first, then the
//	              marker; the marker is --busy-marker)
//	gin           [GIN] 2026/12/07 - 06:52:24 | 200 |    1.234567s |       127.0.0.1 | POST     "/v1/chat/completions"
//	              (Ollama: gin's default logger, written when the request ends; local
//	              time to the second; the latency is the request's duration)
//	llama-server  srv  log_server_r: request: POST /v1/chat/completions 127.0.0.1 200
//	              (llama.cpp's server; "done request:" in newer builds; no date: its
//	              optional timestamps count from the process's start)
//	uvicorn       INFO:     127.0.0.1:40520 - "POST /v1/chat/completions HTTP/1.1" 200 OK
//	              (vLLM and other Python servers; written when the response starts,
//	              not when it ends; vLLM may put "(APIServer pid=1) " first; no date)
const (
	FormatCouncil     = "council"
	FormatGin         = "gin"
	FormatLlamaServer = "llama-server"
	FormatUvicorn     = "uvicorn"
)

// Request is one request line of a server's log.
type Request struct {
	Format string
	// At is the line's time: when the request ended (when its response
	// started, for uvicorn). Zero when the line carries no date.
	At time.Time
	// Precision is the resolution of At: the request was logged within
	// [At, At+Precision). Gin writes whole seconds.
	Precision time.Duration
	// Duration is how long the request took, where the line says.
	Duration    time.Duration
	HasDuration bool
	Method      string
	Path        string
	Status      int
}

// Dated reports whether the line carries its own time.
func (r Request) Dated() bool { return !r.At.IsZero() }

// Latest is the latest instant the line's time may stand for: At, or the
// end of its second for a line dated to the second.
func (r Request) Latest() time.Time {
	if r.Precision > 0 {
		return r.At.Add(r.Precision - time.Nanosecond)
	}
	return r.At
}

// Start is when the request began by its duration (At when unknown).
func (r Request) Start() time.Time { return r.At.Add(-r.Duration) }

// Canonical is the request in the council format's words,
// "method=POST path=/v1/chat/completions status=200", so one --busy-ignore
// substring ("path=/v1/models") means the same in every format.
func (r Request) Canonical() string {
	return "method=" + r.Method + " path=" + r.Path + " status=" + strconv.Itoa(r.Status)
}

// maxLine bounds a line Parse looks at: request lines are short, and a
// long line is a body or a stack trace.
const maxLine = 4096

// ParseRequest reads line as a request line of any known format; marker
// is the council format's completed-request text ("" disables that
// format). ok is false for any other line.
func ParseRequest(line []byte, marker string) (Request, bool) {
	if len(line) > maxLine {
		return Request{}, false
	}
	if bytes.IndexByte(line, 0x1b) >= 0 {
		line = stripANSI(line) // a server writing to a terminal colours its lines
	}
	switch {
	case bytes.HasPrefix(line, []byte("[GIN] ")):
		return parseGin(line)
	case bytes.Contains(line, []byte("log_server_r")):
		return parseLlamaServer(line)
	case bytes.Contains(line, []byte(` - "`)):
		if r, ok := parseUvicorn(line); ok {
			return r, true
		}
	}
	return parseCouncil(line, marker)
}

// Ignored reports whether the request, or its raw line, contains one of
// ignore.
func (r Request) Ignored(line []byte, ignore []string) bool {
	canon := r.Canonical() + " "
	for _, s := range ignore {
		if s != "" && (bytes.Contains(line, []byte(s)) || strings.Contains(canon, s)) {
			return true
		}
	}
	return false
}

func parseCouncil(line []byte, marker string) (Request, bool) {
	if marker == "" || !bytes.Contains(line, []byte(marker)) {
		return Request{}, false
	}
	ts, ok := LeadingTime(line)
	if !ok {
		return Request{}, false
	}
	r := Request{Format: FormatCouncil, At: ts, Method: field(line, "method"), Path: field(line, "path")}
	r.Duration, r.HasDuration = durationField(line)
	if s, err := strconv.Atoi(field(line, "status")); err == nil {
		r.Status = s
	}
	return r, true
}

// field reads " key=value" (value up to the next space) from line.
func field(line []byte, key string) string {
	i := bytes.Index(line, []byte(" "+key+"="))
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if j := bytes.IndexAny(v, " \t"); j >= 0 {
		v = v[:j]
	}
	return string(v)
}

// ginTime is gin's default logger's time layout (gin logger.go,
// defaultLogFormatter: param.TimeStamp.Format("2006/01/02 - 15:04:05")),
// in the server's local time.
const ginTime = "2006/01/02 - 15:04:05"

// parseGin reads gin's default logger line (gin-gonic/gin logger.go,
// defaultLogFormatter: "[GIN] %v |%s %3d %s| %13v | %15s |%s %-7s %s %#v\n%s"):
// time, status, latency (a Go duration, cut to whole seconds above a
// minute), client IP, method and the Go-quoted path.
func parseGin(line []byte) (Request, bool) {
	parts := strings.Split(string(line[len("[GIN] "):]), "|")
	if len(parts) < 5 {
		return Request{}, false
	}
	at, err := time.ParseInLocation(ginTime, strings.TrimSpace(parts[0]), time.Local)
	if err != nil {
		return Request{}, false
	}
	status, err := strconv.Atoi(strings.TrimSpace(parts[1]))
	if err != nil || status < 100 || status > 999 {
		return Request{}, false
	}
	lat, err := time.ParseDuration(strings.TrimSpace(parts[2]))
	if err != nil || lat < 0 {
		return Request{}, false
	}
	method, quoted, ok := strings.Cut(strings.TrimSpace(strings.Join(parts[4:], "|")), " ")
	if !ok {
		return Request{}, false
	}
	quoted = strings.TrimSpace(quoted)
	if end := strings.LastIndexByte(quoted, '"'); end > 0 {
		quoted = quoted[:end+1] // an error message may follow the path
	}
	path, err := strconv.Unquote(quoted)
	if err != nil || !upperWord(method) {
		return Request{}, false
	}
	return Request{Format: FormatGin, At: at, Precision: time.Second, Duration: lat, HasDuration: true,
		Method: method, Path: path, Status: status}, true
}

// parseLlamaServer reads llama.cpp's request log (tools/server
// server-http.cpp, log_server_request: SRV_INF("request: %s %s %s %d\n",
// method, path, remote_addr, status), "done request: ..." in newer
// builds), after the "srv  log_server_r: " prefix its log macro adds.
func parseLlamaServer(line []byte) (Request, bool) {
	_, rest, ok := bytes.Cut(line, []byte("request: "))
	if !ok {
		return Request{}, false
	}
	f := strings.Fields(string(rest))
	if len(f) != 4 || !upperWord(f[0]) || !strings.HasPrefix(f[1], "/") {
		return Request{}, false
	}
	status, err := strconv.Atoi(f[3])
	if err != nil || status < 100 || status > 999 {
		return Request{}, false
	}
	return Request{Format: FormatLlamaServer, Method: f[0], Path: f[1], Status: status}, true
}

// parseUvicorn reads uvicorn's access log (uvicorn logging.py
// AccessFormatter, default format '%(levelprefix)s %(client_addr)s -
// "%(request_line)s" %(status_code)s', the status followed by its phrase):
// `<LEVEL>: <client> - "<METHOD> <path> HTTP/<v>" <status> <phrase>`.
func parseUvicorn(line []byte) (Request, bool) {
	i := bytes.Index(line, []byte(` - "`))
	head := line[:i]
	if !bytes.Contains(head, []byte(":")) || (!bytes.Contains(head, []byte("INFO:")) && !bytes.Contains(head, []byte("WARNING:")) && !bytes.Contains(head, []byte("ERROR:"))) {
		return Request{}, false
	}
	rest := line[i+len(` - "`):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return Request{}, false
	}
	req := strings.Fields(string(rest[:j]))
	if len(req) != 3 || !upperWord(req[0]) || !strings.HasPrefix(req[2], "HTTP/") {
		return Request{}, false
	}
	after := strings.Fields(string(rest[j+1:]))
	if len(after) == 0 {
		return Request{}, false
	}
	status, err := strconv.Atoi(after[0])
	if err != nil || status < 100 || status > 999 {
		return Request{}, false
	}
	path := req[1]
	if q := strings.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	return Request{Format: FormatUvicorn, Method: req[0], Path: path, Status: status}, true
}

// upperWord: an HTTP method, 3 to 10 capital letters.
func upperWord(s string) bool {
	if len(s) < 3 || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// stripANSI removes terminal colour sequences (ESC [ ... letter).
func stripANSI(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == 0x1b && i+1 < len(b) && b[i+1] == '[' {
			j := i + 2
			for j < len(b) && (b[j] < '@' || b[j] > '~') {
				j++
			}
			i = j
			continue
		}
		out = append(out, b[i])
	}
	return out
}

// Requests returns the request lines of tail that contain none of
// ignore, newest first.
func Requests(tail []byte, marker string, ignore []string) []Request {
	var out []Request
	for rest := tail; len(rest) > 0; {
		var line []byte
		rest, line = LastLine(rest)
		r, ok := ParseRequest(line, marker)
		if !ok || r.Ignored(line, ignore) {
			continue
		}
		out = append(out, r)
	}
	return out
}
