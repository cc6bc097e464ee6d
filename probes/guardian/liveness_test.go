package guardian

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/server/transport"
)

func plainClient(t *testing.T, url string) *transport.Client {
	t.Helper()
	c, err := transport.Resolve(transport.Config{Mode: transport.Bearer, URL: url, TokenFile: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestProbeModels(t *testing.T) {
	const list = `{"object":"list","data":[{"id":"council-27b","object":"model"},{"id":"council-8b","object":"model"}]}`
	reply := func(status int, ctype, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/models" {
				http.NotFound(w, r)
				return
			}
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		want       string // expected model
		wantReason string // "" = pass
		wantModels int
	}{
		{"model list", reply(200, "application/json", list), "", "", 2},
		{"expected model listed", reply(200, "application/json", list), "council-8b", "", 2},
		{"expected model missing", reply(200, "application/json", list), "council-70b", "model_missing", 2},
		{"JSON without a content type still counts", reply(200, "", list), "", "", 2},
		{"HTML 200 (captive portal)", reply(200, "text/html; charset=utf-8", "<html><body>Sign in</body></html>"), "", "html", 0},
		{"HTML mislabelled as JSON", reply(200, "application/json", "  <!DOCTYPE html><html></html>"), "", "html", 0},
		{"not JSON", reply(200, "text/plain", "OK"), "", "not_json", 0},
		{"empty body", reply(200, "application/json", ""), "", "not_json", 0},
		{"empty model list", reply(200, "application/json", `{"object":"list","data":[]}`), "", "no_models", 0},
		{"JSON but no list", reply(200, "application/json", `{"status":"ok"}`), "", "no_models", 0},
		{"500", reply(500, "application/json", `{"error":{"message":"metal device lost"}}`), "", "status", 0},
		{"401 is ours to fix, not a failure to serve", reply(401, "application/json", `{"error":"unauthorized"}`), "", "auth", 0},
		{"403 likewise", reply(403, "application/json", `{"error":"forbidden"}`), "", "auth", 0},
		{"redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://example.invalid/login", http.StatusFound)
		}, "", "status", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			got := probeModels(context.Background(), plainClient(t, srv.URL), 5*time.Second, tt.want)
			if got.Reason != tt.wantReason || got.OK() != (tt.wantReason == "") {
				t.Fatalf("probeModels = reason %q err %v, want reason %q", got.Reason, got.Err, tt.wantReason)
			}
			if got.Status == 0 {
				t.Errorf("status not recorded")
			}
			if got.OK() && len(got.Models) != tt.wantModels {
				t.Errorf("models = %v, want %d", got.Models, tt.wantModels)
			}
			if !got.OK() && !strings.Contains(got.Err.Error(), "/v1/models") {
				t.Errorf("error %q does not name the request", got.Err)
			}
		})
	}
}

func TestProbeModelsTimeoutAndRefused(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	got := probeModels(context.Background(), plainClient(t, hang.URL), 200*time.Millisecond, "")
	if got.Reason != "timeout" || got.Status != 0 {
		t.Errorf("hang: reason %q status %d err %v, want timeout", got.Reason, got.Status, got.Err)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	got = probeModels(context.Background(), plainClient(t, url), 2*time.Second, "")
	if got.Reason != "connect" || !strings.Contains(got.Err.Error(), "refused") {
		t.Errorf("refused: reason %q err %v, want connect refused", got.Reason, got.Err)
	}
}
