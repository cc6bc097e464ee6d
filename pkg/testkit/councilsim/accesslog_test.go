package councilsim

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/host/accesslog"
)

// Each access-log format the simulator writes is read back by the
// probes' own reader (pkg/host/accesslog) as the request it was.
func TestAccessLogFormats(t *testing.T) {
	for _, format := range AccessLogFormats {
		t.Run(format, func(t *testing.T) {
			var log syncBuffer
			sim := New(Config{AccessLog: &log, AccessLogFormat: format})
			if err := sim.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sim.Close)
			resp, err := http.Post(sim.PlainURL()+"/v1/chat/completions", "application/json",
				strings.NewReader(`{"model":"council-sim-27b","messages":[{"role":"user","content":"What is 2+2?"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			sim.Close()
			rs := accesslog.Requests([]byte(log.String()), accesslog.DefaultMarker, nil)
			if len(rs) != 1 || rs[0].Format != format || rs[0].Method != "POST" || rs[0].Path != "/v1/chat/completions" || rs[0].Status != 200 {
				t.Fatalf("read back %+v from %q", rs, []byte(log.String()))
			}
		})
	}
	if err := New(Config{AccessLogFormat: "apache"}).Start(context.Background()); err == nil {
		t.Error("an unknown format started")
	}
}
