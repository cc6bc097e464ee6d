package councilsim

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/testpki"
)

// runServe starts Run in the background and returns the KEY=value URL lines
// it printed, a function that stops it and returns its exit code, and its
// captured stderr.
func runServe(t *testing.T, args ...string) (urls map[string]string, stop func() int, stderr *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr = &syncBuffer{}
	codec := make(chan int, 1)
	go func() {
		codec <- Run(ctx, append([]string{"council-sim"}, args...), pw, stderr)
		pw.Close()
	}()
	stop = sync.OnceValue(func() int {
		cancel()
		select {
		case code := <-codec:
			return code
		case <-time.After(10 * time.Second):
			t.Fatal("council-sim did not stop after cancel")
			return -1
		}
	})
	t.Cleanup(func() { stop() })

	want := 1
	for _, a := range args {
		if a == "--mtls-listen" || a == "--control" {
			want++
		}
	}
	urls = map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for len(urls) < want {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("council-sim exited (code %d) before printing its URLs; stderr:\n%s", stop(), stderr.String())
			}
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("stdout line %q is not KEY=value", l)
			}
			urls[k] = v
		case <-time.After(10 * time.Second):
			t.Fatalf("no URLs printed; stderr:\n%s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return urls, stop, stderr
}

func TestRunServe(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	ca, err := testpki.NewCA("cli test CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := testpki.WriteCouncilLayout(home, ca, "canary"); err != nil {
		t.Fatal(err)
	}
	certs := testpki.CertsDir(home)
	tokenFile := filepath.Join(dir, "token")
	const token = "very-secret-token-123"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	accessLog := filepath.Join(dir, "access.log")
	pidFile := filepath.Join(dir, "sim.pid")

	urls, stop, stderr := runServe(t,
		"--listen", "127.0.0.1:0", "--mtls-listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
		"--ca-cert", filepath.Join(certs, "ca.crt"), "--server-cert", filepath.Join(certs, "server.crt"), "--server-key", filepath.Join(certs, "server.key"),
		"--token-file", tokenFile, "--access-log", accessLog, "--pid-file", pidFile,
		"--model", "m-one", "--model", "m-two",
		"--answer", "capital=Paris, France", "--answer", "eq=a=b",
		"--fault", "wrong", "--diverge-after", "5", "--slow-delay", "1500ms",
		"--ttft", "5ms", "--token-delay", "2ms", "--system-fingerprint", "fp_cli")

	for _, k := range []string{"COUNCIL_URL", "COUNCIL_MTLS_URL", "COUNCIL_SIM_CONTROL_URL"} {
		if urls[k] == "" {
			t.Errorf("no %s printed (got %v)", k, urls)
		}
	}
	pid, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid file %q (%v), want %d", pid, err, os.Getpid())
	}

	c := newClient(10*time.Second, nil)
	_, b, err := get(c, urls["COUNCIL_SIM_CONTROL_URL"]+"/state")
	if err != nil || !strings.Contains(string(b), `"fault":"wrong"`) || !strings.Contains(string(b), `"slow_delay":"1.5s"`) || !strings.Contains(string(b), `"diverge_after":5`) ||
		!strings.Contains(string(b), `"ttft":"5ms","token_delay":"2ms","system_fingerprint":"fp_cli"`) {
		t.Errorf("state from flags: %s %v", b, err)
	}
	if resp, _, err := get(c, urls["COUNCIL_URL"]+"/v1/models"); err != nil || resp.StatusCode != 401 {
		t.Errorf("no token: %v %v, want 401", resp, err)
	}
	if _, err := c.Post(urls["COUNCIL_SIM_CONTROL_URL"]+"/fault", "application/json", strings.NewReader(`{"fault":"none"}`)); err != nil {
		t.Fatal(err)
	}
	auth := []string{"Authorization", "Bearer " + token}
	tests := []struct{ prompt, want string }{
		{"2+2", "4"},
		{"the capital?", "Paris, France"}, // a comma in an --answer is not a separator
		{"eq", "a=b"},
	}
	for _, tt := range tests {
		_, b, err := post(c, urls["COUNCIL_URL"], userChat(tt.prompt, chatBody{"model": "m-two"}), auth...)
		if err != nil {
			t.Fatal(err)
		}
		if got := *decodeChat(t, b).Choices[0].Message.Content; got != tt.want {
			t.Errorf("%q: answer %q, want %q", tt.prompt, got, tt.want)
		}
	}
	_, b, err = get(c, urls["COUNCIL_URL"]+"/v1/models", auth...)
	if err != nil || !strings.Contains(string(b), `"m-one"`) || strings.Contains(string(b), DefaultModel) {
		t.Errorf("models %s %v: want m-one and m-two only", b, err)
	}

	client, err := ca.IssueKeyPair(testpki.IssueOpts{CommonName: "canary", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	mc := newClient(10*time.Second, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client}})
	if resp, _, err := get(mc, urls["COUNCIL_MTLS_URL"]+"/v1/models"); err != nil || resp.StatusCode != 200 {
		t.Errorf("mTLS models: %v %v", resp, err)
	}

	if code := stop(); code != 0 {
		t.Errorf("exit code %d after cancel, want 0; stderr:\n%s", code, stderr.String())
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
	logged, err := os.ReadFile(accessLog)
	if err != nil || strings.Count(string(logged), "INFO request completed") < 5 {
		t.Errorf("access log %q %v", logged, err)
	}
	if strings.Contains(stderr.String(), token) {
		t.Error("stderr contains the bearer token")
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty-token")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown fault", []string{"--listen", "127.0.0.1:0", "--fault", "melt"}, "unknown fault"},
		{"bad answer rule", []string{"--listen", "127.0.0.1:0", "--answer", "no-equals"}, "substring=answer"},
		{"missing token file", []string{"--listen", "127.0.0.1:0", "--token-file", filepath.Join(dir, "nope")}, "read token file"},
		{"empty token file", []string{"--listen", "127.0.0.1:0", "--token-file", empty}, "empty"},
		{"mtls without certs", []string{"--listen", "127.0.0.1:0", "--mtls-listen", "127.0.0.1:0"}, "mtls listener"},
		{"no listener", []string{"--listen", ""}, "no serving listener"},
		{"stray argument", []string{"serve"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if code := Run(ctx, append([]string{"council-sim"}, tt.args...), &out, &errb); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr %q, want it to mention %q", errb.String(), tt.wantErr)
			}
		})
	}
}

func TestRunPKI(t *testing.T) {
	home := t.TempDir()
	var out, errb syncBuffer
	ctx := context.Background()
	if code := Run(ctx, []string{"council-sim", "pki", "--home", home, "--clients", "guardian, canary"}, &out, &errb); code != 0 {
		t.Fatalf("pki exit %d: %s", code, errb.String())
	}
	certs := testpki.CertsDir(home)
	for _, f := range []string{"ca.crt", "server.crt", "server.key", "clients/guardian.crt", "clients/guardian.key", "clients/canary.crt", "clients/canary.key"} {
		if _, err := os.Stat(filepath.Join(certs, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(certs, "clients/drift.crt")); !os.IsNotExist(err) {
		t.Errorf("drift cert written though not asked for: %v", err)
	}
	before, _ := os.ReadFile(filepath.Join(certs, "ca.crt"))
	errb = syncBuffer{}
	if code := Run(ctx, []string{"council-sim", "pki", "--home", home}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--force") {
		t.Errorf("second pki without --force: exit %d, stderr %q", code, errb.String())
	}
	if after, _ := os.ReadFile(filepath.Join(certs, "ca.crt")); string(after) != string(before) {
		t.Error("CA replaced without --force")
	}
	if code := Run(ctx, []string{"council-sim", "pki", "--home", home, "--force"}, &out, &errb); code != 0 {
		t.Errorf("pki --force exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(certs, "clients/parity-smoke.key")); err != nil {
		t.Errorf("default clients: %v", err)
	}
	errb = syncBuffer{}
	if code := Run(ctx, []string{"council-sim", "pki"}, &out, &errb); code != 1 {
		t.Errorf("pki without --home: exit %d, want 1", code)
	}
}

func TestHelpSaysSimulator(t *testing.T) {
	var out, errb syncBuffer
	if code := Run(context.Background(), []string{"council-sim", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("help exit %d", code)
	}
	for _, want := range []string{"SIMULATED", "NOT a real LLM server", "x-council-simulator: true", "sse_stall", "--token-file", "--pid-file"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
