package councilsim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Each personality serves its documented endpoints and answers an unknown
// path the way its server does.
func TestPersonalityEndpoints(t *testing.T) {
	c := newClient(5*time.Second, nil)
	for _, tc := range []struct {
		p            Personality
		path         string
		status       int
		bodyContains string
	}{
		{PersonalityGeneric, "/props", 404, "no route"},
		{PersonalityMLX, "/health", 200, `{"status": "ok"}`},
		{PersonalityMLX, "/props", 404, "Not Found"},
		{PersonalityLlamaServer, "/health", 200, `"ok"`},
		{PersonalityLlamaServer, "/props", 200, `"build_info":"b6000-0a1b2c3"`},
		{PersonalityLlamaServer, "/metrics", 200, "llamacpp:requests_processing 0"},
		{PersonalityLlamaServer, "/api/version", 404, "File Not Found"},
		{PersonalityVLLM, "/health", 200, ""},
		{PersonalityVLLM, "/version", 200, `{"version":"0.11.0"}`},
		{PersonalityVLLM, "/metrics", 200, "vllm:kv_cache_usage_perc{"},
		{PersonalityVLLM, "/props", 404, `{"detail":"Not Found"}`},
		{PersonalityOllama, "/", 200, "Ollama is running"},
		{PersonalityOllama, "/api/version", 200, `{"version":"0.12.3"}`},
		{PersonalityOllama, "/api/ps", 200, `"size_vram":5137025024`},
		{PersonalityOllama, "/api/tags", 200, `"digest":"`},
		{PersonalityOllama, "/props", 404, "404 page not found"},
		{PersonalityLMStudio, "/api/v0/models", 200, `"state":"loaded"`},
		{PersonalityLMStudio, "/api/v0/models/" + DefaultModel, 200, `"state":"loaded"`},
		// The 200 that proves nothing.
		{PersonalityLMStudio, "/props", 200, `{"error":"Unexpected endpoint or method. (GET /props)"}`},
		{PersonalityLMStudio, "/api/version", 200, `Unexpected endpoint or method. (GET /api/version)`},
	} {
		t.Run(string(tc.p)+tc.path, func(t *testing.T) {
			sim := startSim(t, Config{Personality: PersonalityConfig{Personality: tc.p}})
			resp, body, err := get(c, sim.PlainURL()+tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.bodyContains) {
				t.Errorf("GET %s: %d %q, want %d containing %q", tc.path, resp.StatusCode, body, tc.status, tc.bodyContains)
			}
			if resp.Header.Get(SimulatorHeader) != "true" {
				t.Error("personality response lacks the simulator header")
			}
			// The OpenAI subset still answers under every personality.
			if resp, _, err := get(c, sim.PlainURL()+"/v1/models"); err != nil || resp.StatusCode != 200 {
				t.Errorf("/v1/models under %s: %v %v", tc.p, resp, err)
			}
		})
	}
}

// A personality refuses a fault its server cannot show, at start and at
// run time, rather than silently serving as if healthy.
func TestPersonalityRejectsFaultsItCannotShow(t *testing.T) {
	sim := New(Config{Personality: PersonalityConfig{Personality: PersonalityMLX, BackendFault: BackendFaultLoading}})
	if err := sim.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot show") {
		sim.Close()
		t.Fatalf("Start with mlx+loading: %v, want a refusal", err)
	}
	s := startSim(t, Config{Personality: PersonalityConfig{Personality: PersonalityLMStudio}})
	if err := s.SetBackendFault(BackendFaultOnCPU, 0); err == nil {
		t.Error("lmstudio accepted on_cpu")
	}
	if s.BackendFault() != BackendFaultNone {
		t.Errorf("fault after a refused switch = %s", s.BackendFault())
	}
	if err := New(Config{Personality: PersonalityConfig{Personality: "tgi"}}).Start(context.Background()); err == nil {
		t.Error("Start accepted an unknown personality")
	}
}

// Faults switch over the control listener too.
func TestBackendFaultOverControl(t *testing.T) {
	c := newClient(5*time.Second, nil)
	sim := startSim(t, Config{Personality: PersonalityConfig{Personality: PersonalityLlamaServer}})
	req, _ := http.NewRequest(http.MethodPost, sim.ControlURL()+"/backend-fault", bytes.NewReader([]byte(`{"fault":"loading"}`)))
	if resp, body, err := do(c, req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /backend-fault: %v %s %v", resp, body, err)
	}
	resp, body, err := get(c, sim.PlainURL()+"/health")
	if err != nil || resp.StatusCode != 503 || !strings.Contains(string(body), "Loading model") {
		t.Errorf("/health while loading: %v %s %v", resp, body, err)
	}
	// Chat is refused while loading; /v1/models answers.
	if resp, _, _ := post(c, sim.PlainURL(), userChat("2+2", nil)); resp == nil || resp.StatusCode != 503 {
		t.Errorf("chat while loading: %v, want 503", resp)
	}
	req, _ = http.NewRequest(http.MethodPost, sim.ControlURL()+"/backend-fault", bytes.NewReader([]byte(`{"fault":"on_cpu"}`)))
	if resp, _, _ := do(c, req); resp == nil || resp.StatusCode != 400 {
		t.Errorf("POST on_cpu to llama-server: %v, want 400", resp)
	}
}

// The simulator's own all-endpoint faults still reach personality routes.
func TestTransportFaultsWinOverPersonality(t *testing.T) {
	c := newClient(5*time.Second, nil)
	sim := startSim(t, Config{Personality: PersonalityConfig{Personality: PersonalityVLLM}, Fault: Fault500})
	if resp, _, err := get(c, sim.PlainURL()+"/health"); err != nil || resp.StatusCode != 500 {
		t.Errorf("/health under fault 500: %v %v", resp, err)
	}
}

func TestPersonalityFlags(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown personality", []string{"--listen", "127.0.0.1:0", "--personality", "tgi"}, "unknown personality"},
		{"fault it cannot show", []string{"--listen", "127.0.0.1:0", "--personality", "lmstudio", "--backend-fault", "kv_full"}, "cannot show"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if code := Run(ctx, append([]string{"council-sim"}, tt.args...), &out, &errb); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr %q, want %q", errb.String(), tt.wantErr)
			}
		})
	}
}

// Cold: /api/ps lists nothing until a chat loads the model; the chat
// answers, and from then on the model is loaded.
func TestOllamaColdLoadsOnChat(t *testing.T) {
	sim := New(Config{Personality: PersonalityConfig{Personality: PersonalityOllama, BackendFault: BackendFaultCold, LoadTime: 50 * time.Millisecond}})
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	loaded := func() int {
		resp, err := http.Get(sim.PlainURL() + "/api/ps")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ps struct{ Models []json.RawMessage }
		if err := json.NewDecoder(resp.Body).Decode(&ps); err != nil {
			t.Fatal(err)
		}
		return len(ps.Models)
	}
	if n := loaded(); n != 0 {
		t.Fatalf("cold: %d models loaded", n)
	}
	resp, err := http.Post(sim.PlainURL()+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"council-sim-27b","messages":[{"role":"user","content":"What is 2+2?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || loaded() != 1 || sim.BackendFault() != BackendFaultNone {
		t.Fatalf("after the first chat: status %d, loaded %d, fault %s", resp.StatusCode, loaded(), sim.BackendFault())
	}
}
