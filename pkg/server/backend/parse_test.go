package backend

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/text"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The documented shapes parse to what the documentation says.
func TestParseDocumentedShapes(t *testing.T) {
	t.Run("llama-server /health", func(t *testing.T) {
		if r := ParseLlamaHealth(200, fixture(t, "llama-server/health-ok.json")); r.State != Ready {
			t.Errorf("ok: %+v", r)
		}
		if r := ParseLlamaHealth(503, fixture(t, "llama-server/health-loading.json")); r.State != Loading || r.Detail != "Loading model" {
			t.Errorf("loading: %+v", r)
		}
		if r := ParseLlamaHealth(503, []byte(`{"error":{"code":503,"message":"slot unavailable"}}`)); r.State != Failed || r.Detail != "slot unavailable" {
			t.Errorf("other 503: %+v", r)
		}
		if r := ParseLlamaHealth(200, fixture(t, "lmstudio/unexpected-endpoint.json")); r.State != Unknown {
			t.Errorf("LM Studio's 200-with-error read as %+v, want unknown", r)
		}
	})
	t.Run("llama-server /props", func(t *testing.T) {
		p, err := ParseLlamaProps(fixture(t, "llama-server/props.json"))
		if err != nil || p.ModelPath != "../models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf" || p.BuildInfo == "" || p.IsSleeping {
			t.Errorf("%+v, %v", p, err)
		}
		if _, err := ParseLlamaProps(fixture(t, "lmstudio/unexpected-endpoint.json")); err == nil {
			t.Error("LM Studio's 200-with-error parsed as /props")
		}
		if _, err := ParseLlamaProps([]byte(`{"status":"ok"}`)); err == nil {
			t.Error("an unrelated object parsed as /props")
		}
		if p.NCtx == nil || *p.NCtx != 1024 {
			t.Errorf("n_ctx = %v, want the slot's 1024", p.NCtx)
		}
		for _, body := range []string{
			`{"model_path":"m.gguf"}`,
			`{"model_path":"m.gguf","default_generation_settings":{"n_ctx":0}}`,
			`{"model_path":"m.gguf","default_generation_settings":{"n_ctx":"4096"}}`,
			`{"model_path":"m.gguf","default_generation_settings":[1]}`,
		} {
			if p, err := ParseLlamaProps([]byte(body)); err != nil || p.NCtx != nil {
				t.Errorf("%s: n_ctx %v, %v; want not reported", body, p.NCtx, err)
			}
		}
	})
	t.Run("llama-server /metrics", func(t *testing.T) {
		f, err := ParsePrometheus(fixture(t, "llama-server/metrics.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if v := f.Sum("llamacpp:requests_processing"); v == nil || *v != 2 {
			t.Errorf("requests_processing = %v", v)
		}
		if v := f.Sum("llamacpp:requests_deferred"); v == nil || *v != 1 {
			t.Errorf("requests_deferred = %v", v)
		}
		if v := f.Max("llamacpp:kv_cache_usage_ratio"); v != nil {
			t.Errorf("kv ratio = %v, want absent", *v)
		}
		if !f.HasPrefix("llamacpp:") || f.HasPrefix("vllm:") {
			t.Error("HasPrefix wrong")
		}
	})
	t.Run("vllm", func(t *testing.T) {
		if v, err := ParseVersion(fixture(t, "vllm/version.json")); err != nil || v != "0.11.0" {
			t.Errorf("version %q, %v", v, err)
		}
		f, err := ParsePrometheus(fixture(t, "vllm/metrics.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if v := f.Sum("vllm:num_requests_running"); v == nil || *v != 4 {
			t.Errorf("running = %v, want 4 (two engines)", v)
		}
		if v := f.Sum("vllm:num_requests_waiting"); v == nil || *v != 2 {
			t.Errorf("waiting = %v, want 2", v)
		}
		if v := f.Max("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"); v == nil || *v != 0.87 {
			t.Errorf("kv = %v, want the fullest engine's 0.87", v)
		}
		if !f.HasPrefix("vllm:") {
			t.Error("no vllm: series")
		}
	})
	t.Run("ollama", func(t *testing.T) {
		if v, err := ParseVersion(fixture(t, "ollama/version.json")); err != nil || v != "0.5.1" {
			t.Errorf("version %q, %v", v, err)
		}
		ps, err := ParseOllamaModels(fixture(t, "ollama/ps.json"))
		if err != nil || len(ps) != 1 {
			t.Fatalf("%+v, %v", ps, err)
		}
		m := ps[0]
		want := time.Date(2024, 6, 4, 21, 38, 31, 837530000, time.UTC)
		if m.Model != "mistral:latest" || m.Size == nil || *m.Size != 5137025024 || m.SizeVRAM == nil || *m.SizeVRAM != *m.Size || !m.ExpiresAt.Equal(want) {
			t.Errorf("%+v", m)
		}
		if m.ContextLength != nil {
			t.Errorf("context_length %d, want absent (docs/api.md's example has none)", *m.ContextLength)
		}
		tags, err := ParseOllamaModels(fixture(t, "ollama/tags.json"))
		if err != nil || len(tags) != 2 || tags[0].SizeVRAM != nil || tags[0].ContextLength != nil {
			t.Errorf("tags %+v, %v (size_vram and context_length must stay absent)", tags, err)
		}
		ps, err = ParseOllamaModels(fixture(t, "ollama/ps-context.json"))
		if err != nil || len(ps) != 1 || ps[0].ContextLength == nil || *ps[0].ContextLength != 4096 {
			t.Errorf("ps with context_length: %+v, %v; want 4096", ps, err)
		}
		ps, err = ParseOllamaModels([]byte(`{"models":[{"name":"loading","context_length":0}]}`))
		if err != nil || ps[0].ContextLength != nil {
			t.Errorf("context_length 0 (a model still loading) read as %v, %v; want not reported", ps[0].ContextLength, err)
		}
		if _, err := ParseVersion(fixture(t, "lmstudio/unexpected-endpoint.json")); err == nil {
			t.Error("LM Studio's 200-with-error parsed as a version")
		}
	})
	// What a real Ollama 0.17.4 answered (recorded by make test-real, on a
	// host without a GPU): the parsers read the real server, not only its
	// documentation.
	t.Run("ollama real 0.17.4", func(t *testing.T) {
		if v, err := ParseVersion(fixture(t, "ollama/real-0.17.4/version.json")); err != nil || v != "0.17.4" {
			t.Errorf("version %q, %v", v, err)
		}
		ps, err := ParseOllamaModels(fixture(t, "ollama/real-0.17.4/ps.json"))
		if err != nil || len(ps) != 1 {
			t.Fatalf("%+v, %v", ps, err)
		}
		m := ps[0]
		if m.Model != "tiny:latest" || m.Size == nil || *m.Size <= 0 || m.SizeVRAM == nil || *m.SizeVRAM != 0 ||
			len(m.Digest) != 64 || m.ExpiresAt.IsZero() {
			t.Errorf("ps %+v: want tiny:latest loaded, entirely on the CPU (size_vram 0)", m)
		}
		tags, err := ParseOllamaModels(fixture(t, "ollama/real-0.17.4/tags.json"))
		if err != nil || len(tags) != 1 || tags[0].Digest != m.Digest || tags[0].SizeVRAM != nil {
			t.Errorf("tags %+v, %v: want the model ps lists, without size_vram", tags, err)
		}
	})
	t.Run("lmstudio", func(t *testing.T) {
		list, err := ParseLMStudioModels(fixture(t, "lmstudio/models.json"))
		if err != nil || len(list) != 3 || list[1].State != "loaded" || list[0].State != "not-loaded" {
			t.Errorf("%+v, %v", list, err)
		}
		// An OpenAI list has no state: not LM Studio's.
		if _, err := ParseLMStudioModels(fixture(t, "mlx/models.json")); err == nil {
			t.Error("an OpenAI /v1/models list parsed as LM Studio's")
		}
	})
	t.Run("mlx", func(t *testing.T) {
		list, err := ParseOpenAIModels(fixture(t, "mlx/models.json"))
		if err != nil || len(list) != 2 || list[0].MaxModelLen != nil {
			t.Errorf("%+v, %v", list, err)
		}
	})
	t.Run("vllm /v1/models", func(t *testing.T) {
		list, err := ParseOpenAIModels(fixture(t, "vllm/models.json"))
		if err != nil || len(list) != 1 || list[0].MaxModelLen == nil || *list[0].MaxModelLen != 32768 {
			t.Errorf("%+v, %v; want max_model_len 32768", list, err)
		}
	})
}

// FuzzParsePrometheus checks the reader against the Prometheus parser
// (expfmt, the oracle; kept out of the binaries for their size): on every
// body expfmt accepts, the reader accepts it too and reads the same
// families with the same values. A body expfmt refuses may still be read
// (the reader skips a bad line instead), but never panics the reader.
func FuzzParsePrometheus(f *testing.F) {
	for _, name := range []string{"llama-server/metrics.txt", "vllm/metrics.txt"} {
		f.Add(fixture(f, name))
	}
	for _, body := range promCases {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fams, err := ParsePrometheus(body)
		agreeWithExpfmt(t, body, fams, err)
	})
}

// FuzzParseJSON throws every body at every JSON parser: none may panic, and
// a body any of them accepts must not be an error object.
func FuzzParseJSON(f *testing.F) {
	for _, name := range []string{
		"llama-server/health-ok.json", "llama-server/health-loading.json", "llama-server/props.json",
		"vllm/version.json", "ollama/version.json", "ollama/ps.json", "ollama/tags.json",
		"lmstudio/models.json", "lmstudio/unexpected-endpoint.json", "mlx/models.json",
		"ollama/ps-context.json", "vllm/models.json",
	} {
		f.Add(200, fixture(f, name))
	}
	f.Add(503, fixture(f, "llama-server/health-loading.json"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		_, isErr := errorText(body)
		accepted := func(what string, err error) {
			if err == nil && isErr {
				t.Fatalf("%s accepted an error object: %q", what, body)
			}
		}
		r := ParseLlamaHealth(status, body)
		if len(r.Detail) > text.MaxIdent+len("unexpected /health body: ")+len("/health HTTP 000: ")+3 {
			t.Fatalf("detail not bounded: %d bytes", len(r.Detail))
		}
		_, err := ParseLlamaProps(body)
		accepted("ParseLlamaProps", err)
		_, err = ParseVersion(body)
		accepted("ParseVersion", err)
		_, err = ParseOllamaModels(body)
		accepted("ParseOllamaModels", err)
		_, err = ParseLMStudioModels(body)
		accepted("ParseLMStudioModels", err)
		_, err = ParseOpenAIModels(body)
		accepted("ParseOpenAIModels", err)
	})
}
