package realollama

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sanctum/council-probes/pkg/testkit/jsonshape"
)

// A Recording is what a server answered on each endpoint the probes read,
// one JSON document per file name (Recorded lists them).
type Recording map[string][]byte

// The recorded answers, each a file of a recording directory:
//
//	version.json        GET /api/version
//	ps.json             GET /api/ps, with the model loaded
//	tags.json           GET /api/tags
//	v1-models.json      GET /v1/models
//	chat.json           POST /v1/chat/completions
//	chat-stream.json    the same with "stream": true and
//	                    stream_options.include_usage, as
//	                    {"chunks": [each data: payload], "done": saw [DONE]}
//	chat-not-found.json POST /v1/chat/completions for a model the
//	                    server does not have (HTTP 404)
var Recorded = []string{"version.json", "ps.json", "tags.json", "v1-models.json", "chat.json", "chat-stream.json", "chat-not-found.json"}

// RecordPrompt is the chat recorded: the canary's question.
const RecordPrompt = "What is 2+2? Respond with only the number."

// Record asks the server at baseURL each recorded question about model
// (chat first, so that /api/ps lists it loaded). Each answer must have
// the status the real server gives; bodies are read up to 1 MiB.
func Record(ctx context.Context, baseURL, model string) (Recording, error) {
	rec := Recording{}
	chat := func(stream bool, model string) map[string]any {
		req := map[string]any{
			"model": model, "temperature": 0, "max_tokens": 6,
			"messages": []map[string]string{{"role": "user", "content": RecordPrompt}},
		}
		if stream {
			req["stream"] = true
			req["stream_options"] = map[string]bool{"include_usage": true}
		}
		return req
	}
	steps := []struct {
		file, method, path string
		body               map[string]any
		status             int
	}{
		{"chat.json", http.MethodPost, "/v1/chat/completions", chat(false, model), http.StatusOK},
		{"chat-stream.json", http.MethodPost, "/v1/chat/completions", chat(true, model), http.StatusOK},
		{"chat-not-found.json", http.MethodPost, "/v1/chat/completions", chat(false, "no-such-model:latest"), http.StatusNotFound},
		{"version.json", http.MethodGet, "/api/version", nil, http.StatusOK},
		{"ps.json", http.MethodGet, "/api/ps", nil, http.StatusOK},
		{"tags.json", http.MethodGet, "/api/tags", nil, http.StatusOK},
		{"v1-models.json", http.MethodGet, "/v1/models", nil, http.StatusOK},
	}
	for _, s := range steps {
		var body io.Reader
		if s.body != nil {
			b, err := json.Marshal(s.body)
			if err != nil {
				return nil, err
			}
			body = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, s.method, baseURL+s.path, body)
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", s.file, err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("record %s: %s %s: %w", s.file, s.method, s.path, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", s.file, err)
		}
		if resp.StatusCode != s.status {
			return nil, fmt.Errorf("record %s: %s %s: HTTP %d, want %d: %s", s.file, s.method, s.path, resp.StatusCode, s.status, limit(data, 300))
		}
		if s.file == "chat-stream.json" {
			if data, err = streamDocument(data); err != nil {
				return nil, fmt.Errorf("record %s: %w", s.file, err)
			}
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, data, "", "  "); err != nil {
			return nil, fmt.Errorf("record %s: not JSON: %w: %s", s.file, err, limit(data, 300))
		}
		rec[s.file] = append(pretty.Bytes(), '\n')
	}
	return rec, nil
}

// streamDocument turns a server-sent event stream into one JSON document:
// {"chunks": [every data: payload but [DONE]], "done": whether [DONE] came}.
func streamDocument(sse []byte) ([]byte, error) {
	doc := struct {
		Chunks []json.RawMessage `json:"chunks"`
		Done   bool              `json:"done"`
	}{Chunks: []json.RawMessage{}}
	sc := bufio.NewScanner(bytes.NewReader(sse))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		payload, ok := strings.CutPrefix(strings.TrimRight(sc.Text(), "\r"), "data:")
		if !ok {
			continue
		}
		payload = strings.TrimSpace(payload)
		if payload == "[DONE]" {
			doc.Done = true
			continue
		}
		if !json.Valid([]byte(payload)) {
			return nil, fmt.Errorf("stream chunk is not JSON: %q", limit([]byte(payload), 200))
		}
		doc.Chunks = append(doc.Chunks, json.RawMessage(payload))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// Save writes the recording's files into dir.
func (r Recording) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range Recorded {
		if err := os.WriteFile(filepath.Join(dir, f), r[f], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// LoadRecording reads a recording saved in dir; every file must be there.
func LoadRecording(dir string) (Recording, error) {
	r := Recording{}
	for _, f := range Recorded {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, fmt.Errorf("load recording: %w", err)
		}
		r[f] = b
	}
	return r, nil
}

// ShapeDiff compares the shape of each recorded answer (jsonshape: keys
// and types, values ignored) of two recordings, want (named wantName in
// the lines, e.g. "real") and got (e.g. "sim"). It returns the
// differences not listed in known ("file: path: <wantName> kinds,
// <gotName> kinds", sorted by file), and the entries of known that no
// longer occur, so a list of deliberate differences stays true. known
// maps such a line to why the difference is deliberate.
func ShapeDiff(want, got Recording, wantName, gotName string, known map[string]string) (unexpected, stale []string, err error) {
	seen := map[string]bool{}
	for _, f := range Recorded {
		ws, err := jsonshape.Parse(want[f])
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", wantName, f, err)
		}
		gs, err := jsonshape.Parse(got[f])
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", gotName, f, err)
		}
		for _, d := range jsonshape.Diff(ws, gs, wantName, gotName) {
			line := f + ": " + d
			seen[line] = true
			if _, ok := known[line]; !ok {
				unexpected = append(unexpected, line)
			}
		}
	}
	for line := range known {
		if !seen[line] {
			stale = append(stale, line)
		}
	}
	sort.Strings(stale)
	return unexpected, stale, nil
}
