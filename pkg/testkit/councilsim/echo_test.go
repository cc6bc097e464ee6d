package councilsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFaultEchoAuth(t *testing.T) {
	sim := startSim(t, Config{Token: "s3cret-token", Fault: FaultEchoAuth})
	c := newClient(10*time.Second, nil)
	auth := []string{"Authorization", "Bearer s3cret-token"}
	_, b, err := get(c, sim.PlainURL()+"/v1/models", auth...)
	if err != nil {
		t.Fatal(err)
	}
	var list modelList
	if err := json.Unmarshal(b, &list); err != nil || len(list.Data) != 2 || list.Data[0].ID != "Bearer s3cret-token" || list.Data[1].ID != DefaultModel {
		t.Fatalf("models %s: want the echoed header first, then %s", b, DefaultModel)
	}
	// Chat accepts the echoed id as a model and answers with the header.
	resp, b, err := post(c, sim.PlainURL(), userChat("2+2", chatBody{"model": "Bearer s3cret-token"}), auth...)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("chat with the echoed model: %v %v %s", resp, err, b)
	}
	if got := *decodeChat(t, b).Choices[0].Message.Content; got != "you sent: Bearer s3cret-token" {
		t.Fatalf("answer %q, want the echoed header", got)
	}
}

func TestFaultSSECR(t *testing.T) {
	sim := startSim(t, Config{Fault: FaultSSECR})
	c := newClient(10*time.Second, nil)
	resp, b, err := post(c, sim.PlainURL(), userChat("2+2", chatBody{"stream": true}))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	if bytes.Contains(b, []byte("\n")) || !bytes.Contains(b, []byte("data: [DONE]\r\r")) || strings.Count(string(b), "data: ") < 3 {
		t.Fatalf("want bare-CR events only, got %q", b)
	}
	// JSON chat is unaffected.
	resp, b, err = post(c, sim.PlainURL(), userChat("2+2", nil))
	if err != nil || resp.StatusCode != http.StatusOK || *decodeChat(t, b).Choices[0].Message.Content != "4" {
		t.Fatalf("JSON chat under sse_cr: %v %v %s", resp, err, b)
	}
}
