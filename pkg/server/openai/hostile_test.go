package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// hostileID is a model id a hostile server sends: a screen clear, a
// window title, a bell, a carriage return, a right-to-left override, and
// 450 KB of padding (twice that in one stream chunk, under the 1 MiB
// event bound).
var hostileID = "\x1b[2J\x1b]0;owned\x07council\r\u202Eevil" + strings.Repeat("x", 450<<10)

// clean fails when s carries a control or format character or is longer
// than an identifier may be.
func clean(t *testing.T, what, s string) {
	t.Helper()
	if len(s) > text.MaxIdent {
		t.Errorf("%s is %d bytes, over %d", what, len(s), text.MaxIdent)
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf) {
			t.Errorf("%s carries %U: %.80q", what, r, s)
			return
		}
	}
	if !strings.HasPrefix(s, "[2J]0;ownedcouncil; evil") {
		t.Errorf("%s lost the server's words: %.80q", what, s)
	}
}

// TestServerIdentifiersAreSanitised: the model ids of /v1/models, and the
// model and system_fingerprint of a chat answer (JSON and streamed), enter
// the program cleaned and bounded.
func TestServerIdentifiersAreSanitised(t *testing.T) {
	id, _ := json.Marshal(hostileID)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	models := serve(t, raw(200, "application/json", `{"object":"list","data":[{"id":`+string(id)+`,"owned_by":`+string(id)+`}]}`))
	m, err := client(t, models).ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clean(t, "listed id", m.Data[0].ID)
	clean(t, "owned_by", m.Data[0].OwnedBy)
	served, err := m.Served("")
	if err != nil {
		t.Fatal(err)
	}
	clean(t, "served model", served)

	body := fmt.Sprintf(`{"model":%s,"system_fingerprint":%s,"choices":[{"message":{"role":"assistant","content":"4"},"finish_reason":"stop"}]}`, id, id)
	res, err := client(t, serve(t, raw(200, "application/json", body))).Chat(ctx, UserPrompt("m", "2+2", 4))
	if err != nil {
		t.Fatal(err)
	}
	clean(t, "chat model", res.Model)
	clean(t, "chat system_fingerprint", res.SystemFingerprint)

	chunk := func(content string) string {
		return fmt.Sprintf("data: {\"model\":%s,\"system_fingerprint\":%s,\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", id, id, content)
	}
	stream := serve(t, sse(0, chunk("1"), chunk(" 2"),
		fmt.Sprintf("data: {\"model\":%s,\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\n", id), "data: [DONE]\n\n"))
	res, err = client(t, stream).ChatStream(ctx, UserPrompt("m", "count", 2))
	if err != nil {
		t.Fatal(err)
	}
	clean(t, "stream model", res.Model)
	clean(t, "stream system_fingerprint", res.SystemFingerprint)
	if res.Content != "1 2" {
		t.Errorf("the answer is the server's as sent: %q", res.Content)
	}
}

// TestTokenEventsAndReads: the client counts the token events whatever the
// usage claims, and the reads that delivered them, so a usage that lies
// and an answer sent in one write can both be told.
func TestTokenEventsAndReads(t *testing.T) {
	events := []string{
		"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"1\"}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\" 2\"}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\" 3\"}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2000000000}}\n\n",
		"data: [DONE]\n\n",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name    string
		h       func(w http.ResponseWriter, r *http.Request)
		oneRead bool
	}{
		// 100 ms apart: a client would have to be descheduled for that
		// long to read two of them at once.
		{"streamed", sse(100*time.Millisecond, events...), false},
		{"sent in one write", sse(0, strings.Join(events, "")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := client(t, serve(t, tc.h)).ChatStream(ctx, UserPrompt("m", "count", 3))
			if err != nil {
				t.Fatal(err)
			}
			if res.TokenEvents != 3 || res.CompletionTokens != 2_000_000_000 || res.TokensCounted {
				t.Errorf("token events %d, completion tokens %d (counted %v): want 3 events and the usage's claim", res.TokenEvents, res.CompletionTokens, res.TokensCounted)
			}
			if n := res.Timings.TokenReads; (n == 1) != tc.oneRead || n < 1 {
				t.Errorf("token reads %d, want one read: %v", n, tc.oneRead)
			}
		})
	}
}
