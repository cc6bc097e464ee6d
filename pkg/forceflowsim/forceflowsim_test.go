package forceflowsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func post(t *testing.T, url string, p Payload) (int, Receipt) {
	t.Helper()
	b, _ := json.Marshal(p)
	resp, err := http.Post(url+"/notify", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rc Receipt
	json.NewDecoder(resp.Body).Decode(&rc)
	return resp.StatusCode, rc
}

func TestRules(t *testing.T) {
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	s := New()
	s.Now = func() time.Time { return now }
	srv := httptest.NewServer(s)
	defer srv.Close()

	p := Payload{Source: "council-canary", Severity: "error", Title: "council-canary: hang", Message: "no first byte in 10s"}
	if code, rc := post(t, srv.URL, p); code != 200 || rc.Status != "sent" || rc.Deduplicated {
		t.Fatalf("first: %d %+v", code, rc)
	}
	if _, rc := post(t, srv.URL, p); !rc.Deduplicated {
		t.Fatalf("identical alert inside 120s not deduplicated: %+v", rc)
	}
	now = now.Add(121 * time.Second)
	if _, rc := post(t, srv.URL, p); rc.Deduplicated {
		t.Fatalf("deduplicated after 120s: %+v", rc)
	}
	for i := 0; i < 12; i++ {
		q := p
		q.Message = string(rune('a' + i))
		post(t, srv.URL, q)
	}
	q := p
	q.Message = "one too many"
	if _, rc := post(t, srv.URL, q); !rc.RateLimited {
		t.Fatalf("11th non-critical alert in an hour not rate limited: %+v", rc)
	}
	q.Severity, q.Message = "critical", "critical is never capped"
	if _, rc := post(t, srv.URL, q); rc.RateLimited {
		t.Fatalf("critical rate limited: %+v", rc)
	}
	if code, _ := post(t, srv.URL, Payload{Source: "x", Severity: "loud", Title: "t"}); code != 400 {
		t.Fatalf("bad severity accepted: %d", code)
	}
	s.SetMode(Mode500)
	if code, _ := post(t, srv.URL, p); code != 500 {
		t.Fatalf("mode 500 answered %d", code)
	}
}
