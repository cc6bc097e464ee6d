//go:build real

package real

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/realollama"
)

// council-context against a real Ollama 0.17.4: the window it reports, a
// needle inside it read whole, a needle over it cut silently (200, the
// prompt_tokens of the window, Ollama's WARN line), and another client's
// truncation counted as pressure.

// smallContext is the num_ctx of the model these tests create: small, so
// a needle over it is a few hundred words.
const smallContext = 256

// A prompt inside the window passes: Ollama's default window (4096 on a
// host without GPU memory), read from /api/ps after the probe loads the
// model, and a needle of 80% of it counted whole.
func TestContextInsideTheWindowPasses(t *testing.T) {
	h := newHost(t, hostConfig{plain: true})
	tk := h.run("context")
	tk.wantCode(t, 0)
	tk.one(t, "context_model_load", "")
	w := tk.one(t, "context_window", "")
	if w["reported_context"] != 4096.0 || w["reported_by"] != "Ollama /api/ps context_length" || w["backend"] != "ollama" {
		t.Errorf("context_window %v, want Ollama's default 4096 from /api/ps", w)
	}
	n := tk.one(t, "context_needle", "")
	words, _ := n["words"].(float64)
	pt, _ := n["prompt_tokens"].(float64)
	if words != 3276 || pt < words || pt > 4096 {
		t.Errorf("context_needle %v: want 3276 words counted whole (at least as many prompt tokens, within the window)", n)
	}
	tk.one(t, "context_whole", "context_truncated")
	if a := h.ff.Alerts(); len(a) != 0 {
		t.Errorf("alerts on a healthy Ollama: %+v", a)
	}
}

// A prompt over the window is context_truncated: a model created with
// num_ctx 256, and the operator expecting 1024. Ollama reports its window
// (context_smaller), answers the 819-word needle 200 with prompt_tokens
// capped at the window, and its runner's WARN line is the needle's.
func TestContextOverTheWindowIsTruncated(t *testing.T) {
	h := newHost(t, hostConfig{plain: true, modelName: "small", model: realollama.Model{NumCtx: smallContext}})
	tk := h.run("context", "--expect-context", "1024")
	tk.wantCode(t, 2)
	if sm := tk.one(t, "context_smaller", "context_smaller"); !strings.Contains(fmt.Sprint(sm["detail"]), "context window of 256 tokens (Ollama /api/ps context_length), smaller than the 1024 tokens expected") {
		t.Errorf("context_smaller %v", sm)
	}
	tr := tk.one(t, "context_truncated", "context_truncated")
	d := fmt.Sprint(tr["detail"])
	for _, want := range []string{"dropped part of a 819-word prompt", "the server counted 256 prompt tokens for a prompt of at least 819",
		"its log says it truncated a prompt of "} {
		if !strings.Contains(d, want) {
			t.Errorf("context_truncated detail %q lacks %q", d, want)
		}
	}
	if l := fmt.Sprint(tr["log_line"]); !strings.Contains(l, `msg="truncating input prompt" limit=256`) {
		t.Errorf("log_line %q: want Ollama's own warning", l)
	}
	if tr["finish_reason"] != "length" {
		t.Errorf("finish_reason %v: the counting model runs to max_tokens", tr["finish_reason"])
	}
	for _, ch := range []string{"context_smaller", "context_truncated"} {
		if a := h.alertsFor(ch); len(a) != 1 {
			t.Errorf("%s alerts %q, want one", ch, a)
		}
	}
}

// Another client's prompt cut by Ollama is context_pressure on the next
// tick, counted from the server's log; the probe's own needle, inside the
// window (half of it), is whole and not counted. The first tick only
// learns where the log ends.
func TestContextPressureFromOllamasLog(t *testing.T) {
	h := newHost(t, hostConfig{plain: true, modelName: "small", model: realollama.Model{NumCtx: smallContext}})
	tk := h.run("context", "--context-fill", "0.5")
	tk.wantCode(t, 0)
	if l := tk.one(t, "context_log", ""); l["first"] != true {
		t.Fatalf("first tick: context_log %v, want the position learned", l)
	}
	tk.one(t, "context_whole", "context_truncated")

	prompt := strings.Repeat("the river runs past a small house ", 120) // about 840 tokens
	h.srv.Chat(t, h.model.Name, prompt, 4)
	if tail := h.srv.LogTail(200); !strings.Contains(tail, `msg="truncating input prompt" limit=256`) {
		t.Fatalf("the other client's prompt was not truncated:\n%s", tail)
	}

	tk = h.run("context", "--context-fill", "0.5")
	tk.wantCode(t, 1)
	tk.one(t, "context_whole", "context_truncated")
	p := tk.one(t, "context_pressure", "context_pressure")
	if n, _ := p["count"].(float64); n < 1 || !strings.Contains(fmt.Sprint(p["detail"]), "1 prompt truncated") ||
		!strings.Contains(fmt.Sprint(p["detail"]), `msg="truncating input prompt" limit=256`) {
		t.Errorf("context_pressure %v: want the other client's truncation, counted, with Ollama's line", p)
	}
	if a := h.alertsFor("context_pressure"); len(a) != 1 || !strings.HasPrefix(a[0], "warn: ") {
		t.Errorf("pressure alerts %q", a)
	}
}
