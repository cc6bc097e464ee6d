package councilsim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestFaultRenameModel: each answer names a model and a fingerprint never
// named before; /v1/models lists the usual ids; chat accepts any id.
func TestFaultRenameModel(t *testing.T) {
	sim := startSim(t, Config{Fault: FaultRenameModel})
	c := newClient(10*time.Second, nil)
	seen := map[string]bool{}
	for i := range 3 {
		model := "council-sim-27b"
		if i == 2 {
			model = "whatever-was-asked"
		}
		ps := postPace(t, sim.PlainURL(), chatBody{"model": model, "stream": true, "max_tokens": 3,
			"messages": []map[string]string{{"role": "user", "content": "count from 1"}}})
		if ps.content != "1 2 3" || len(ps.fingerprints) != 1 {
			t.Fatalf("answer %q, fingerprints %v", ps.content, ps.fingerprints)
		}
		for fp := range ps.fingerprints {
			if seen[fp] || !strings.HasPrefix(fp, "fp_r") {
				t.Errorf("fingerprint %q repeated or unexpected", fp)
			}
			seen[fp] = true
		}
		_, b, err := post(c, sim.PlainURL(), userChat("2+2", chatBody{"model": model}))
		if err != nil {
			t.Fatal(err)
		}
		r := decodeChat(t, b)
		if !strings.HasPrefix(r.Model, model+"-r") || seen[r.Model] {
			t.Errorf("answer names model %q, want a new %s-r<N>", r.Model, model)
		}
		seen[r.Model] = true
	}
	_, b, _ := get(c, sim.PlainURL()+"/v1/models")
	if !strings.Contains(string(b), `"id":"council-sim-27b"`) || strings.Contains(string(b), "-r") {
		t.Errorf("models %s: want the usual list", b)
	}
}

// TestFaultHostileAndHugeIDs: the words the server says about itself
// carry escapes, or are a megabyte long: listed first, in every answer,
// and as the personalities' version.
func TestFaultHostileAndHugeIDs(t *testing.T) {
	for _, tc := range []struct {
		fault Fault
		ok    func(string) bool
	}{
		{FaultHostileIDs, func(s string) bool {
			return strings.Contains(s, "\x1b[2J") && strings.Contains(s, "\x1b]0;") && strings.Contains(s, "\u202E") && strings.Contains(s, "\r")
		}},
		{FaultHugeIDs, func(s string) bool { return len(s) == HugeIDBytes }},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			sim := startSim(t, Config{Fault: tc.fault, Personality: PersonalityConfig{Personality: PersonalityOllama}})
			c := newClient(10*time.Second, nil)
			_, b, err := get(c, sim.PlainURL()+"/v1/models")
			if err != nil {
				t.Fatal(err)
			}
			var list modelList
			if err := json.Unmarshal(b, &list); err != nil || len(list.Data) != 2 || !tc.ok(list.Data[0].ID) || list.Data[1].ID != DefaultModel {
				t.Fatalf("models: want the word first, then %s; got %d ids (%v)", DefaultModel, len(list.Data), err)
			}
			// Chat accepts any id, its own word or a cleaned copy of it.
			_, b, err = post(c, sim.PlainURL(), userChat("2+2", chatBody{"model": "cleaned-copy"}))
			if err != nil {
				t.Fatal(err)
			}
			r := decodeChat(t, b)
			if !tc.ok(r.Model) || (tc.fault == FaultHostileIDs && !tc.ok(r.SystemFingerprint)) {
				t.Errorf("answer's model/fingerprint not the fault's words (%d, %d bytes)", len(r.Model), len(r.SystemFingerprint))
			}
			ps := postPace(t, sim.PlainURL(), chatBody{"model": DefaultModel, "stream": true, "max_tokens": 3,
				"messages": []map[string]string{{"role": "user", "content": "count from 1"}}})
			if ps.err != nil || ps.content != "1 2 3" {
				t.Errorf("stream under %s: %q %v", tc.fault, ps.content, ps.err)
			}
			_, b, _ = get(c, sim.PlainURL()+"/api/version")
			var v struct{ Version string }
			if json.Unmarshal(b, &v); !tc.ok(v.Version) {
				t.Errorf("/api/version %.80q: want the fault's words", v.Version)
			}
		})
	}
}

// TestFaultUsageLies: the usage says two billion tokens, the stream has
// three.
func TestFaultUsageLies(t *testing.T) {
	sim := startSim(t, Config{Fault: FaultUsageLies})
	ps := postPace(t, sim.PlainURL(), chatBody{"stream": true, "max_tokens": 3, "stream_options": map[string]bool{"include_usage": true},
		"messages": []map[string]string{{"role": "user", "content": "count from 1"}}})
	if ps.usage == nil || ps.usage.CompletionTokens != UsageLie || ps.contentChunks != 3 {
		t.Fatalf("usage %+v, %d content chunks: want %d tokens claimed, 3 sent", ps.usage, ps.contentChunks, UsageLie)
	}
}

// TestFaultBuffered: the answer takes its usual time, and every token
// arrives at once at the end.
func TestFaultBuffered(t *testing.T) {
	const delay = 40 * time.Millisecond
	sim := startSim(t, Config{Fault: FaultBuffered, Pace: Pace{TTFT: delay, TokenDelay: delay}})
	ps := postPace(t, sim.PlainURL(), chatBody{"stream": true, "max_tokens": 5,
		"messages": []map[string]string{{"role": "user", "content": "count from 1"}}})
	if ps.content != "1 2 3 4 5" || !ps.done {
		t.Fatalf("answer %q (done %v)", ps.content, ps.done)
	}
	// Held for 5 delays, then sent at once: the tokens arrive in one read,
	// far closer together than one delay.
	if waited, spread := ps.first.Sub(ps.sent), ps.last.Sub(ps.first); waited < 5*delay || spread >= delay {
		t.Errorf("first token after %s (want at least %s), tokens spread over %s (want well under %s)", waited, 5*delay, spread, delay)
	}
}

// TestFaultLoop: the counting answer loops over its first three numbers.
func TestFaultLoop(t *testing.T) {
	sim := startSim(t, Config{Fault: FaultLoop})
	ps := postPace(t, sim.PlainURL(), chatBody{"stream": true, "max_tokens": 8,
		"messages": []map[string]string{{"role": "user", "content": "count from 1"}}})
	if ps.content != "1 2 3 1 2 3 1 2" || ps.finish != "length" {
		t.Fatalf("answer %q finish %q", ps.content, ps.finish)
	}
}

// TestOtherClients: each chat request logs the other clients' requests
// when it arrives, before its first token.
func TestOtherClients(t *testing.T) {
	var log syncBuffer
	sim := startSim(t, Config{AccessLog: &log, Pace: Pace{TTFT: 300 * time.Millisecond}})
	sim.SetOtherClients(2)
	done := make(chan paceStream, 1)
	go func() {
		done <- postPace(t, sim.PlainURL(), chatBody{"stream": true, "max_tokens": 2,
			"messages": []map[string]string{{"role": "user", "content": "count from 1"}}})
	}()
	waitFor(t, "the other clients' lines", func() bool { return strings.Count(log.String(), "\n") >= 2 })
	select {
	case <-done:
		t.Fatal("the lines were written after the answer, not on arrival")
	default:
	}
	<-done
	if n := strings.Count(log.String(), "request completed method=POST path=/v1/chat/completions status=200 duration_ms=5\n"); n != 2 {
		t.Errorf("%d other-client lines, want 2:\n%s", n, log.String())
	}
}
