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

func TestIdempotencyKeyAcceptsOnce(t *testing.T) {
	s := New()
	srv := httptest.NewServer(s)
	defer srv.Close()
	p := Payload{Source: "council-guardian", Severity: "error", Title: "council-guardian: unreachable", Message: "refused"}
	send := func(key string) Receipt {
		b, _ := json.Marshal(p)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/notify", bytes.NewReader(b))
		req.Header.Set(IdempotencyHeader, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rc Receipt
		json.NewDecoder(resp.Body).Decode(&rc)
		return rc
	}
	first := send("k1")
	again := send("k1")
	if len(s.Alerts()) != 1 || s.Duplicates() != 1 {
		t.Fatalf("same key twice: %d accepted, %d duplicates; want 1 and 1", len(s.Alerts()), s.Duplicates())
	}
	if again.Status != first.Status || again.Deduplicated {
		t.Errorf("a repeated key must get the first receipt %+v, got %+v", first, again)
	}
	if send("k2"); len(s.Alerts()) != 2 {
		t.Errorf("a new key was not accepted: %d alerts", len(s.Alerts()))
	}
}

func TestFailureModes(t *testing.T) {
	s := New()
	srv := httptest.NewServer(s)
	defer srv.Close()
	p := Payload{Source: "council-guardian", Severity: "error", Title: "t", Message: "m"}
	for mode, want := range map[string]int{Mode400: 400, "401": 401, "413": 413, ModeHTML200: 200, ModeStatusError: 200} {
		s.SetMode(mode)
		if code, rc := post(t, srv.URL, p); code != want || rc.Status == "sent" {
			t.Errorf("mode %s: %d %+v, want %d and no receipt", mode, code, rc, want)
		}
	}
	if len(s.Alerts()) != 0 {
		t.Errorf("failure modes recorded %d alerts", len(s.Alerts()))
	}
}
