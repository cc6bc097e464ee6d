package backend_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/sanctum/council-probes/pkg/server/backend"
	"github.com/sanctum/council-probes/pkg/server/transport"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
)

const loadedModel = "council-sim-27b"

// clock is a settable clock for the simulator, so "loading for 30s" is
// tested without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// startPersonality runs a simulator with personality p (and fault f) and
// returns it with a transport client to it.
func startPersonality(t *testing.T, p councilsim.Personality, f councilsim.BackendFault, clk *clock) (*councilsim.Sim, *transport.Client) {
	t.Helper()
	cfg := councilsim.Config{
		Models:      []string{loadedModel, "other-model-7b"},
		Personality: councilsim.PersonalityConfig{Personality: p, BackendFault: f},
	}
	if clk != nil {
		cfg.Now = clk.Now
	}
	sim := councilsim.New(cfg)
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim, client(t, sim.PlainURL())
}

func client(t *testing.T, url string) *transport.Client {
	t.Helper()
	c, err := transport.Resolve(transport.Config{Mode: transport.Bearer, URL: url})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func adapter(t *testing.T, k backend.Kind, c *transport.Client) backend.Adapter {
	t.Helper()
	a, err := backend.New(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestDetectEachPersonality(t *testing.T) {
	for _, tc := range []struct {
		p    councilsim.Personality
		want backend.Kind
	}{
		{councilsim.PersonalityGeneric, backend.Generic},
		// mlx-lm's server has only a generic server's endpoints: it must
		// be chosen, never guessed.
		{councilsim.PersonalityMLX, backend.Generic},
		{councilsim.PersonalityLlamaServer, backend.LlamaServer},
		{councilsim.PersonalityVLLM, backend.VLLM},
		{councilsim.PersonalityOllama, backend.Ollama},
		{councilsim.PersonalityLMStudio, backend.LMStudio},
	} {
		t.Run(string(tc.p), func(t *testing.T) {
			_, c := startPersonality(t, tc.p, "", nil)
			d, err := backend.Detect(ctx(t), c)
			if err != nil {
				t.Fatal(err)
			}
			if d.Kind != tc.want {
				t.Fatalf("Detect = %s (%s), want %s", d.Kind, d.Evidence, tc.want)
			}
			if d.Evidence == "" {
				t.Error("no evidence given")
			}
		})
	}
}

// LM Studio answers 200 with an error object to any path: a server that
// does only that must not be taken for llama-server (/props), Ollama
// (/api/version) or vLLM (/version).
func TestDetectIgnoresTwoHundredWithError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"error":"Unexpected endpoint or method. (%s %s)"}`, r.Method, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	d, err := backend.Detect(ctx(t), client(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != backend.Generic {
		t.Fatalf("Detect = %s (%s), want generic", d.Kind, d.Evidence)
	}
}

// A server that is not there cannot be detected: an error, never a
// cached "generic".
func TestDetectUnreachableIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if d, err := backend.Detect(ctx(t), client(t, url)); err == nil {
		t.Fatalf("Detect on a closed port = %+v, want an error", d)
	}
}

func TestDetectUnauthorizedIsOurFault(t *testing.T) {
	sim := councilsim.New(councilsim.Config{Token: "right", Personality: councilsim.PersonalityConfig{Personality: councilsim.PersonalityOllama}})
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := transport.Resolve(transport.Config{Mode: transport.Bearer, URL: sim.PlainURL(), TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	_, err = backend.Detect(ctx(t), c)
	if !errors.Is(err, backend.ErrUnauthorized) {
		t.Fatalf("Detect with a wrong token: %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error leaks the token: %v", err)
	}
}

// The generic backend on a server with none of the endpoints: everything
// unknown, nothing invented.
func TestGenericSeesNothingItCannot(t *testing.T) {
	_, c := startPersonality(t, councilsim.PersonalityGeneric, "", nil)
	a := adapter(t, backend.Generic, c)
	r, err := a.Readiness(ctx(t))
	if err != nil || r.State != backend.Unknown {
		t.Errorf("Readiness = %+v, %v; want unknown", r, err)
	}
	ms, err := a.Models(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if ms.Known {
		t.Error("Models.Known = true: the generic backend cannot know residency")
	}
	m, ok := ms.Find(loadedModel)
	if !ok || m.Residency != backend.ResidencyUnknown || m.Size != nil || m.SizeVRAM != nil {
		t.Errorf("model %s = %+v (found %v), want listed with residency unknown and no sizes", loadedModel, m, ok)
	}
	id, err := a.Identity(ctx(t))
	if err != nil || id != (backend.Identity{}) {
		t.Errorf("Identity = %+v, %v; want empty", id, err)
	}
	mt, err := a.Metrics(ctx(t))
	if err != nil || mt != (backend.Metrics{}) {
		t.Errorf("Metrics = %+v, %v; want all absent", mt, err)
	}
}

// Asking a generic server with a backend's adapter gives an error or
// unknown, never a false finding.
func TestAdaptersOnAGenericServerFindNothing(t *testing.T) {
	_, c := startPersonality(t, councilsim.PersonalityGeneric, "", nil)
	for _, k := range []backend.Kind{backend.LlamaServer, backend.VLLM, backend.Ollama, backend.LMStudio} {
		t.Run(string(k), func(t *testing.T) {
			a := adapter(t, k, c)
			if r, err := a.Readiness(ctx(t)); err == nil && r.State != backend.Unknown {
				t.Errorf("Readiness = %+v, want unknown or an error", r)
			}
			if ms, err := a.Models(ctx(t)); err == nil && k != backend.VLLM {
				t.Errorf("Models = %+v, want an error", ms)
			}
			if mt, err := a.Metrics(ctx(t)); err == nil && mt != (backend.Metrics{}) {
				t.Errorf("Metrics = %+v, want absent", mt)
			}
		})
	}
}

func TestMLX(t *testing.T) {
	_, c := startPersonality(t, councilsim.PersonalityMLX, "", nil)
	a := adapter(t, backend.MLX, c)
	r, err := a.Readiness(ctx(t))
	if err != nil || r.State != backend.Ready {
		t.Errorf("Readiness = %+v, %v; want ready", r, err)
	}
	ms, err := a.Models(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	// /v1/models lists downloads: listed is not loaded.
	if ms.Known || len(ms.Models) != 2 || ms.Models[0].Residency != backend.ResidencyUnknown {
		t.Errorf("Models = %+v, want 2 listed, residency unknown", ms)
	}
	if id, _ := a.Identity(ctx(t)); id != (backend.Identity{}) {
		t.Errorf("Identity = %+v, want unknown", id)
	}
}

func TestLlamaServer(t *testing.T) {
	clk := &clock{now: time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)}
	sim, c := startPersonality(t, councilsim.PersonalityLlamaServer, "", clk)
	a := adapter(t, backend.LlamaServer, c)

	r, err := a.Readiness(ctx(t))
	if err != nil || r.State != backend.Ready {
		t.Fatalf("Readiness = %+v, %v; want ready", r, err)
	}
	ms, err := a.Models(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := ms.Find(loadedModel)
	if !ms.Known || !ok || m.Residency != backend.Resident || !strings.HasSuffix(m.Path, loadedModel+".gguf") {
		t.Errorf("Models = %+v, want %s loaded with its path", ms, loadedModel)
	}
	id, err := a.Identity(ctx(t))
	if err != nil || id.Build != "b6000-0a1b2c3" || id.ModelPath != m.Path {
		t.Errorf("Identity = %+v, %v", id, err)
	}
	mt, err := a.Metrics(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if mt.RequestsRunning == nil || *mt.RequestsRunning != 0 || mt.RequestsWaiting == nil {
		t.Errorf("Metrics = %+v, want running 0 and waiting reported", mt)
	}
	if mt.KVCacheUsage != nil {
		t.Errorf("KVCacheUsage = %v: current llama-server exports no KV ratio; absent is not zero", *mt.KVCacheUsage)
	}

	t.Run("loading for 30s", func(t *testing.T) {
		if err := sim.SetBackendFault(councilsim.BackendFaultLoading, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		r, err := a.Readiness(ctx(t))
		if err != nil || r.State != backend.Loading || r.Detail != "Loading model" || r.HTTPStatus != 503 {
			t.Fatalf("Readiness = %+v, %v; want loading with the server's words", r, err)
		}
		clk.Add(31 * time.Second)
		if r, _ := a.Readiness(ctx(t)); r.State != backend.Ready {
			t.Fatalf("after the load: Readiness = %+v, want ready", r)
		}
	})
	t.Run("unloaded (sleeping)", func(t *testing.T) {
		if err := sim.SetBackendFault(councilsim.BackendFaultUnloaded, 0); err != nil {
			t.Fatal(err)
		}
		ms, err := a.Models(ctx(t))
		if m, ok := ms.Find(loadedModel); err != nil || !ok || m.Residency != backend.NotResident {
			t.Errorf("Models = %+v, %v; want %s not loaded", ms, err, loadedModel)
		}
	})
	t.Run("version changed", func(t *testing.T) {
		if err := sim.SetBackendFault(councilsim.BackendFaultVersionChanged, 0); err != nil {
			t.Fatal(err)
		}
		if id, err := a.Identity(ctx(t)); err != nil || id.Build != "b6001-4d5e6f7" {
			t.Errorf("Identity = %+v, %v; want the new build", id, err)
		}
	})
}

func TestVLLM(t *testing.T) {
	sim, c := startPersonality(t, councilsim.PersonalityVLLM, "", nil)
	a := adapter(t, backend.VLLM, c)
	if r, err := a.Readiness(ctx(t)); err != nil || r.State != backend.Ready {
		t.Fatalf("Readiness = %+v, %v; want ready", r, err)
	}
	ms, err := a.Models(ctx(t))
	if m, ok := ms.Find(loadedModel); err != nil || !ms.Known || !ok || m.Residency != backend.Resident {
		t.Errorf("Models = %+v, %v; want %s loaded", ms, err, loadedModel)
	}
	if id, err := a.Identity(ctx(t)); err != nil || id.Version != "0.11.0" {
		t.Errorf("Identity = %+v, %v", id, err)
	}
	mt, err := a.Metrics(ctx(t))
	if err != nil || mt.RequestsRunning == nil || mt.RequestsWaiting == nil || mt.KVCacheUsage == nil || *mt.KVCacheUsage >= 0.5 {
		t.Fatalf("Metrics = %+v, %v; want all three, KV low", mt, err)
	}

	t.Run("engine dead", func(t *testing.T) {
		if err := sim.SetBackendFault(councilsim.BackendFaultEngineDead, 0); err != nil {
			t.Fatal(err)
		}
		r, err := a.Readiness(ctx(t))
		if err != nil || r.State != backend.Failed || r.HTTPStatus != 503 {
			t.Errorf("Readiness = %+v, %v; want failed", r, err)
		}
		// /v1/models still answers: that is why it proves nothing here.
		if _, err := a.Models(ctx(t)); err != nil {
			t.Errorf("Models with a dead engine: %v (the simulator should still list)", err)
		}
	})
	t.Run("kv full", func(t *testing.T) {
		if err := sim.SetBackendFault(councilsim.BackendFaultKVFull, 0); err != nil {
			t.Fatal(err)
		}
		mt, err := a.Metrics(ctx(t))
		if err != nil || mt.KVCacheUsage == nil || *mt.KVCacheUsage != 1 || mt.RequestsWaiting == nil || *mt.RequestsWaiting != 3 {
			t.Errorf("Metrics = %+v, %v; want KV 1 and 3 waiting", mt, err)
		}
	})
	t.Run("version changed", func(t *testing.T) {
		if err := sim.SetBackendFault(councilsim.BackendFaultVersionChanged, 0); err != nil {
			t.Fatal(err)
		}
		if id, err := a.Identity(ctx(t)); err != nil || id.Version != "0.11.1" {
			t.Errorf("Identity = %+v, %v", id, err)
		}
	})
}

func TestOllama(t *testing.T) {
	clk := &clock{now: time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)}
	sim, c := startPersonality(t, councilsim.PersonalityOllama, "", clk)
	a := adapter(t, backend.Ollama, c)
	if r, err := a.Readiness(ctx(t)); err != nil || r.State != backend.Ready {
		t.Fatalf("Readiness = %+v, %v; want ready", r, err)
	}
	ms, err := a.Models(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := ms.Find(loadedModel)
	if !ms.Known || !ok || m.Residency != backend.Resident || m.OnCPU() || m.Digest == "" || m.ExpiresAt.IsZero() {
		t.Errorf("model = %+v (found %v), want loaded, in GPU, with digest and expiry", m, ok)
	}
	if !m.ExpiresAt.Equal(clk.Now().Add(5 * time.Minute)) {
		t.Errorf("ExpiresAt = %v, want now+5m", m.ExpiresAt)
	}
	if o, ok := ms.Find("other-model-7b"); !ok || o.Residency != backend.NotResident {
		t.Errorf("other model = %+v (found %v), want downloaded, not loaded", o, ok)
	}
	id, err := a.Identity(ctx(t))
	if err != nil || id.Version != "0.12.3" || id.ModelDigest != m.Digest {
		t.Errorf("Identity = %+v, %v", id, err)
	}
	if mt, err := a.Metrics(ctx(t)); err != nil || mt != (backend.Metrics{}) {
		t.Errorf("Metrics = %+v, %v; Ollama exports none", mt, err)
	}

	for _, tc := range []struct {
		fault councilsim.BackendFault
		check func(t *testing.T, m backend.Model, found bool)
	}{
		{councilsim.BackendFaultUnloaded, func(t *testing.T, m backend.Model, found bool) {
			if !found || m.Residency != backend.NotResident {
				t.Errorf("model = %+v, want still downloaded but not loaded", m)
			}
		}},
		{councilsim.BackendFaultOnCPU, func(t *testing.T, m backend.Model, found bool) {
			if !m.OnCPU() {
				t.Errorf("model = %+v (size %v vram %v), want on CPU", m, m.Size, m.SizeVRAM)
			}
		}},
		{councilsim.BackendFaultExpiring, func(t *testing.T, m backend.Model, found bool) {
			if left := m.ExpiresAt.Sub(clk.Now()); left != 10*time.Second {
				t.Errorf("expires in %v, want 10s", left)
			}
		}},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			if err := sim.SetBackendFault(tc.fault, 0); err != nil {
				t.Fatal(err)
			}
			ms, err := a.Models(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			m, ok := ms.Find(loadedModel)
			tc.check(t, m, ok)
		})
	}
	t.Run("version changed", func(t *testing.T) {
		if err := sim.SetBackendFault(councilsim.BackendFaultVersionChanged, 0); err != nil {
			t.Fatal(err)
		}
		got, err := a.Identity(ctx(t))
		if err != nil || got.Version != "0.12.4" || got.ModelDigest == id.ModelDigest || got.ModelDigest == "" {
			t.Errorf("Identity = %+v, %v; want a new version and digest", got, err)
		}
	})
}

func TestLMStudio(t *testing.T) {
	sim, c := startPersonality(t, councilsim.PersonalityLMStudio, "", nil)
	a := adapter(t, backend.LMStudio, c)
	if r, err := a.Readiness(ctx(t)); err != nil || r.State != backend.Ready {
		t.Fatalf("Readiness = %+v, %v; want ready", r, err)
	}
	ms, err := a.Models(ctx(t))
	if m, ok := ms.Find(loadedModel); err != nil || !ok || m.Residency != backend.Resident {
		t.Errorf("Models = %+v, %v; want %s loaded", ms, err, loadedModel)
	}
	if o, ok := ms.Find("other-model-7b"); !ok || o.Residency != backend.NotResident {
		t.Errorf("other = %+v, want not loaded", o)
	}
	if id, _ := a.Identity(ctx(t)); id != (backend.Identity{}) {
		t.Errorf("Identity = %+v: LM Studio's REST API reports no version", id)
	}
	if mt, _ := a.Metrics(ctx(t)); mt != (backend.Metrics{}) {
		t.Errorf("Metrics = %+v: LM Studio exports none (its 200-with-error on /metrics is not a zero)", mt)
	}
	t.Run("unloaded", func(t *testing.T) {
		if err := sim.SetBackendFault(councilsim.BackendFaultUnloaded, 0); err != nil {
			t.Fatal(err)
		}
		ms, err := a.Models(ctx(t))
		if m, ok := ms.Find(loadedModel); err != nil || !ok || m.Residency != backend.NotResident {
			t.Errorf("Models = %+v, %v; want %s not loaded", ms, err, loadedModel)
		}
	})
}

func TestParseKind(t *testing.T) {
	for _, s := range []string{"", "auto", "generic", "mlx", "llama-server", "vllm", "ollama", "lmstudio"} {
		if _, err := backend.ParseKind(s); err != nil {
			t.Errorf("ParseKind(%q): %v", s, err)
		}
	}
	if _, err := backend.ParseKind("llamacpp"); !errors.Is(err, backend.ErrBadKind) {
		t.Errorf("ParseKind(llamacpp) = %v, want ErrBadKind", err)
	}
}

// hostileWord is what a hostile server calls itself: an escape that clears
// the screen, one that sets the terminal's title, a bell, a right-to-left
// override, a carriage return, an echoed credential, and 900 KB of padding.
var hostileWord = "\x1b[2J\x1b]0;owned\x07\u202Eevil\r\nBearer abc.def " + strings.Repeat("x", 900<<10)

// TestServerWordsAreSanitised: every adapter, asked by a server that
// answers each of its endpoints with hostileWord, returns results with no
// control or format character, no credential and no long string.
func TestServerWordsAreSanitised(t *testing.T) {
	w, _ := json.Marshal(hostileWord)
	bodies := map[string]string{
		"/api/v0/models": `{"data":[{"id":` + string(w) + `,"type":"llm","state":"loaded"}]}`,
		"/props":         `{"model_path":` + string(w) + `,"build_info":` + string(w) + `,"total_slots":1}`,
		"/api/version":   `{"version":` + string(w) + `}`,
		"/api/ps":        `{"models":[{"name":` + string(w) + `,"model":` + string(w) + `,"digest":` + string(w) + `,"size":2,"size_vram":1}]}`,
		"/api/tags":      `{"models":[{"name":` + string(w) + `,"model":` + string(w) + `,"digest":` + string(w) + `}]}`,
		"/version":       `{"version":` + string(w) + `}`,
		"/v1/models":     `{"object":"list","data":[{"id":` + string(w) + `}]}`,
		"/health":        `{"status":"error","error":{"message":` + string(w) + `}}`,
		"/v1/health":     `{"status":"error","error":{"message":` + string(w) + `}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprintf(rw, "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=%s} 1\n", w)
			return
		}
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(rw, r)
			return
		}
		if r.URL.Path == "/health" || r.URL.Path == "/v1/health" {
			rw.WriteHeader(http.StatusServiceUnavailable)
		}
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, b)
	}))
	t.Cleanup(srv.Close)
	c := client(t, srv.URL)
	check := func(t *testing.T, what string, v any) {
		t.Helper()
		s := fmt.Sprintf("%+v", v)
		for _, r := range s {
			if unicode.In(r, unicode.Cc, unicode.Cf) {
				t.Errorf("%s carries %U: %.300q", what, r, s)
				return
			}
		}
		if strings.Contains(s, "abc.def") || len(s) > 4096 {
			t.Errorf("%s is %d bytes or keeps the credential: %.300q", what, len(s), s)
		}
	}
	d, err := backend.Detect(ctx(t), c)
	check(t, "Detect", d)
	check(t, "Detect error", fmt.Sprint(err))
	for _, k := range backend.Kinds[1:] {
		t.Run(string(k), func(t *testing.T) {
			a := adapter(t, k, c)
			r, err := a.Readiness(ctx(t))
			check(t, "Readiness", fmt.Sprint(r, err))
			ms, err := a.Models(ctx(t))
			check(t, "Models", fmt.Sprint(ms, err))
			id, err := a.Identity(ctx(t))
			check(t, "Identity", fmt.Sprint(id, err))
			if k == backend.Ollama && !strings.Contains(id.Version, "evil") {
				t.Errorf("the version is kept, cleaned: want it in %+v (%v)", id, err)
			}
			m, err := a.Metrics(ctx(t))
			check(t, "Metrics", fmt.Sprint(m, err))
		})
	}
}

// A llama-server still loading answers /props with 503: its /health words
// identify it, so detection does not cache "generic" for the load.
func TestDetectLlamaServerWhileLoading(t *testing.T) {
	_, c := startPersonality(t, councilsim.PersonalityLlamaServer, councilsim.BackendFaultLoading, nil)
	d, err := backend.Detect(ctx(t), c)
	if err != nil || d.Kind != backend.LlamaServer {
		t.Fatalf("Detect while loading = %+v, %v; want llama-server", d, err)
	}
}

// Ollama's "llama3.2" is "llama3.2:latest": a --model without a tag must
// not read as "not loaded".
func TestOllamaNameWithoutTagIsLatest(t *testing.T) {
	sim := councilsim.New(councilsim.Config{Models: []string{"llama3.2:latest", "qwen3:8b"},
		Personality: councilsim.PersonalityConfig{Personality: councilsim.PersonalityOllama}})
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	ms, err := adapter(t, backend.Ollama, client(t, sim.PlainURL())).Models(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := ms.Find("llama3.2"); !ok || m.Residency != backend.Resident {
		t.Errorf("Find(llama3.2) = %+v, %v; want llama3.2:latest loaded", m, ok)
	}
	if _, ok := ms.Find("qwen3"); ok {
		t.Error("Find(qwen3) matched qwen3:8b: only the latest tag is implied")
	}
}

// Asked of an LM Studio server, which answers 200 {"error":...} to every
// path it does not serve, the other adapters find nothing: no readiness,
// no identity, no metrics.
func TestOtherAdaptersOnLMStudioFindNothing(t *testing.T) {
	_, c := startPersonality(t, councilsim.PersonalityLMStudio, "", nil)
	for _, k := range []backend.Kind{backend.LlamaServer, backend.VLLM, backend.Ollama, backend.MLX} {
		t.Run(string(k), func(t *testing.T) {
			a := adapter(t, k, c)
			if r, err := a.Readiness(ctx(t)); err == nil && r.State != backend.Unknown {
				t.Errorf("Readiness = %+v, want unknown", r)
			}
			if id, err := a.Identity(ctx(t)); err == nil && id != (backend.Identity{}) {
				t.Errorf("Identity = %+v, want nothing", id)
			}
			if mt, err := a.Metrics(ctx(t)); err == nil && mt != (backend.Metrics{}) {
				t.Errorf("Metrics = %+v, want absent", mt)
			}
			if ms, err := a.Models(ctx(t)); err == nil && ms.Known && k != backend.VLLM {
				t.Errorf("Models = %+v, want an error or unknown residency", ms)
			}
		})
	}
}

// TestContextLength: each adapter reads the window its server reports
// (Ollama only for a loaded model); the others report none.
func TestContextLength(t *testing.T) {
	for _, tc := range []struct {
		p    councilsim.Personality
		k    backend.Kind
		want int // 0: not reported
	}{
		{councilsim.PersonalityOllama, backend.Ollama, 3000},
		{councilsim.PersonalityLlamaServer, backend.LlamaServer, 3000},
		{councilsim.PersonalityVLLM, backend.VLLM, 3000},
		{councilsim.PersonalityLMStudio, backend.LMStudio, 0},
		{councilsim.PersonalityMLX, backend.MLX, 0},
		{councilsim.PersonalityGeneric, backend.Generic, 0},
	} {
		t.Run(string(tc.p), func(t *testing.T) {
			sim, c := startPersonality(t, tc.p, "", nil)
			sim.SetContextWindow(3000)
			ms, err := adapter(t, tc.k, c).Models(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			m, ok := ms.Find(loadedModel)
			if !ok && tc.k == backend.LlamaServer && len(ms.Models) == 1 {
				m, ok = ms.Models[0], true
			}
			if !ok {
				t.Fatalf("%s not listed: %+v", loadedModel, ms)
			}
			switch {
			case tc.want == 0 && m.ContextLength != nil:
				t.Errorf("context length %d reported by a server that has no way to say it", *m.ContextLength)
			case tc.want > 0 && (m.ContextLength == nil || *m.ContextLength != tc.want):
				t.Errorf("context length %v, want %d", m.ContextLength, tc.want)
			}
		})
	}
	// An Ollama model that is not loaded has no window yet.
	_, c := startPersonality(t, councilsim.PersonalityOllama, councilsim.BackendFaultUnloaded, nil)
	ms, err := adapter(t, backend.Ollama, c).Models(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := ms.Find(loadedModel); !ok || m.ContextLength != nil {
		t.Errorf("unloaded Ollama model %+v: want listed, without a window", m)
	}
}
