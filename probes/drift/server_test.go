package drift

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/server/backend"
)

func TestCompareIdentity(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	const d1 = "2ae6f6dd7a3dd734790bbbf58b8909a606e0e7e97e94b7604e0aa7ae4490e6d8"
	const d2 = "8c2f9b1e5d0a4c3b2a1908f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2"
	base := serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d1}}}
	for _, tc := range []struct {
		name      string
		prev, cur serverIdentity
		want      []string
		keep      serverIdentity // merged, SeenAt ignored
	}{
		{"first sight is not a change", serverIdentity{}, base, nil, base},
		{"same again", base, base, nil, base},
		{"version upgrade", base, serverIdentity{Backend: "ollama", Version: "0.12.4", Models: map[string]modelIdentity{"m": {Digest: d1}}},
			[]string{"version 0.12.3 -> 0.12.4"},
			serverIdentity{Backend: "ollama", Version: "0.12.4", Models: map[string]modelIdentity{"m": {Digest: d1}}}},
		{"new weights under the same name", base, serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2}}},
			[]string{"m digest " + d1[:12] + " -> " + d2[:12]},
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2}}}},
		{"unloaded model and unknown version keep the last known values", base, serverIdentity{Backend: "ollama"}, nil, base},
		{"generic detection (empty backend) is not a change", base, serverIdentity{}, nil, base},
		{"another server on the port", base, serverIdentity{Backend: "vllm", Version: "0.11.0"},
			[]string{"backend ollama -> vllm", "version 0.12.3 -> 0.11.0"},
			serverIdentity{Backend: "vllm", Version: "0.11.0", Models: map[string]modelIdentity{"m": {Digest: d1}}}},
		{"a second model appears", base, serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"n": {Path: "/models/n.gguf"}}},
			nil,
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d1}, "n": {Path: "/models/n.gguf"}}}},
		{"ollama create replaced the loaded model: both listed, new first",
			base, serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2, AlsoListed: []string{d1}}}},
			[]string{"m digest " + d1[:12] + " -> " + d2[:12]},
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2, AlsoListed: []string{d1}}}}},
		{"the same, listed in the other order",
			base, serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d1, AlsoListed: []string{d2}}}},
			[]string{"m digest " + d1[:12] + " -> " + d2[:12]},
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2, AlsoListed: []string{d1}}}}},
		{"the old runner still listed next tick is not a change again",
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2, AlsoListed: []string{d1}}}},
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2, AlsoListed: []string{d1}}}},
			nil,
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2, AlsoListed: []string{d1}}}}},
		{"the old runner unloaded",
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2, AlsoListed: []string{d1}}}},
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2}}},
			nil,
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2}}}},
		{"the old weights back, once the old runner is gone, are a change",
			serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{"m": {Digest: d2}}},
			base,
			[]string{"m digest " + d2[:12] + " -> " + d1[:12]},
			base},
		{"llama-server: build and path", serverIdentity{Backend: "llama-server", Build: "b6700-abc", Models: map[string]modelIdentity{"m": {Path: "/a.gguf"}}},
			serverIdentity{Backend: "llama-server", Build: "b6710-def", Models: map[string]modelIdentity{"m": {Path: "/b.gguf"}}},
			[]string{"build b6700-abc -> b6710-def", "m path /a.gguf -> /b.gguf"},
			serverIdentity{Backend: "llama-server", Build: "b6710-def", Models: map[string]modelIdentity{"m": {Path: "/b.gguf"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changes, merged := compareIdentity(tc.prev, tc.cur, now)
			var got []string
			for _, c := range changes {
				got = append(got, c.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("changes = %q, want %q", got, tc.want)
			}
			for id, m := range merged.Models {
				m.SeenAt = time.Time{}
				merged.Models[id] = m
			}
			if !reflect.DeepEqual(merged, tc.keep) {
				t.Errorf("merged = %+v, want %+v", merged, tc.keep)
			}
		})
	}
}

// The recorded models are bounded; the least recently seen go first.
func TestRecordedModelsAreBounded(t *testing.T) {
	start := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	var rec serverIdentity
	for i := range maxRecordedModels + 5 {
		cur := serverIdentity{Models: map[string]modelIdentity{fmt.Sprintf("m%02d", i): {Digest: "d"}}}
		_, rec = compareIdentity(rec, cur, start.Add(time.Duration(i)*time.Minute))
	}
	if len(rec.Models) != maxRecordedModels {
		t.Fatalf("%d models recorded, want %d", len(rec.Models), maxRecordedModels)
	}
	for i := range 5 {
		if _, ok := rec.Models[fmt.Sprintf("m%02d", i)]; ok {
			t.Errorf("oldest model m%02d kept", i)
		}
	}
	if _, ok := rec.Models[fmt.Sprintf("m%02d", maxRecordedModels+4)]; !ok {
		t.Error("newest model dropped")
	}
}

func TestIdentityOf(t *testing.T) {
	ms := backend.Models{Known: true, Models: []backend.Model{
		{ID: "llama3.2:latest", Residency: backend.Resident, Digest: "aaa", Tagged: true},
		{ID: "qwen3:8b", Residency: backend.NotResident, Digest: "bbb", Tagged: true},
		{ID: "phi4:latest", Residency: backend.NotResident, Digest: "ccc", Tagged: true},
		{ID: "listed-only", Residency: backend.Resident},
		{ID: "llama3.2:latest", Residency: backend.Resident, Digest: "old", Tagged: true}, // replaced, still loaded
	}}
	got := identityOf(backend.Ollama, backend.Identity{Version: "0.12.3"}, ms, "qwen3:8b")
	want := serverIdentity{Backend: "ollama", Version: "0.12.3", Models: map[string]modelIdentity{
		"llama3.2:latest": {Digest: "aaa", AlsoListed: []string{"old"}}, // resident, twice
		"qwen3:8b":        {Digest: "bbb"},                              // --model, though not loaded
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("identityOf = %+v, want %+v", got, want)
	}
	if g := identityOf(backend.Generic, backend.Identity{}, backend.Models{}, ""); g.Backend != "" || len(g.Models) != 0 {
		t.Errorf("generic identity = %+v, want empty", g)
	}
}

func TestExpectationFlags(t *testing.T) {
	const full = "2ae6f6dd7a3dd734790bbbf58b8909a606e0e7e97e94b7604e0aa7ae4490e6d8"
	ds, err := parseDigests([]string{"sha256:" + strings.ToUpper(full[:12]), full})
	if err != nil {
		t.Fatal(err)
	}
	if !digestAllowed(full, ds[:1]) || !digestAllowed("sha256:"+full, ds[1:]) || digestAllowed("8c2f9b1e5d0a"+full[12:], ds) {
		t.Errorf("digestAllowed wrong for %q", ds)
	}
	for _, bad := range []string{"2ae6f6", "sha256:", "not-a-digest-at-all", "2ae6f6dd7a3g"} {
		if _, err := parseDigests([]string{bad}); err == nil || !strings.Contains(err.Error(), "bad --expect-model-digest") {
			t.Errorf("parseDigests(%q) = %v, want a flag error", bad, err)
		}
	}
	if _, err := parseServerPatterns([]string{"0.12.["}); err == nil || !strings.Contains(err.Error(), "bad --expect-server") {
		t.Errorf("bad pattern accepted: %v", err)
	}
	if _, err := parseServerPatterns([]string{" "}); err == nil {
		t.Error("blank pattern accepted")
	}
	for _, tc := range []struct {
		pattern, version, build string
		want                    bool
	}{
		{"0.12.*", "0.12.4", "", true},
		{"0.12.3", "0.12.4", "", false},
		{"b67*", "", "b6710-def", true},
		{"*", "", "", false}, // nothing reported matches nothing
	} {
		if got := matchAny(tc.pattern, tc.version, tc.build); got != tc.want {
			t.Errorf("matchAny(%q, %q, %q) = %v, want %v", tc.pattern, tc.version, tc.build, got, tc.want)
		}
	}
}
