package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	fifokit "github.com/sanctum/council-probes/pkg/testkit/fifo"

	"github.com/sanctum/council-probes/pkg/testkit/testpki"
)

const plantedToken = "sk-council-PLANTED-5f2b9c1e"

// layout is a $HOME with the default cert layout for client "canary".
type layout struct {
	home, ca, crt, key, token string
	authority                 *testpki.CA
}

func newLayout(t *testing.T) layout {
	t.Helper()
	home := t.TempDir()
	ca, err := testpki.NewCA("test council CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := testpki.WriteCouncilLayout(home, ca, "canary"); err != nil {
		t.Fatal(err)
	}
	certs := testpki.CertsDir(home)
	return layout{
		home: home, authority: ca,
		ca:    filepath.Join(certs, "ca.crt"),
		crt:   filepath.Join(certs, "clients", "canary.crt"),
		key:   filepath.Join(certs, "clients", "canary.key"),
		token: filepath.Join(home, ".sanctum", "secrets", "council-mlx.token"),
	}
}

func (l layout) config(url, mtlsURL string) Config {
	return Config{Mode: Auto, URL: url, MTLSURL: mtlsURL, CACert: l.ca, ClientCert: l.crt, ClientKey: l.key, TokenFile: l.token}
}

func writeToken(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o700)
	if err := os.WriteFile(path, []byte(plantedToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// echoServer reports which transport reached it: the client cert CN, or the
// Authorization header's presence.
func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.TLS != nil && len(r.TLS.PeerCertificates) > 0:
			io.WriteString(w, "cert:"+r.TLS.PeerCertificates[0].Subject.CommonName)
		case r.Header.Get("Authorization") == "Bearer "+plantedToken:
			io.WriteString(w, "bearer")
		case r.Header.Get("Authorization") != "":
			io.WriteString(w, "bad-bearer")
		default:
			io.WriteString(w, "anonymous")
		}
	})
}

func mtlsServer(t *testing.T, ca *testpki.CA) *httptest.Server {
	t.Helper()
	pair, err := ca.IssueKeyPair(testpki.IssueOpts{CommonName: "council", Server: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(echoHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *Client) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := c.NewRequest(ctx, http.MethodGet, "/v1/models", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), nil
}

func TestAutoPicksMTLSWithFullCertSet(t *testing.T) {
	l := newLayout(t)
	srv := mtlsServer(t, l.authority)
	plain := httptest.NewServer(echoHandler())
	defer plain.Close()
	writeToken(t, l.token, 0o600)

	c, err := Resolve(l.config(plain.URL, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != KindMTLS || c.BaseURL != srv.URL || c.CertSubject != "canary" {
		t.Fatalf("got %v subject %q", c, c.CertSubject)
	}
	got, err := get(t, c)
	if err != nil || got != "cert:canary" {
		t.Fatalf("mTLS request: %q %v", got, err)
	}

	// Removing the cert files reverts to bearer with no other change.
	for _, p := range []string{l.ca, l.crt, l.key} {
		os.Remove(p)
	}
	c, err = Resolve(l.config(plain.URL, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != KindBearer || c.BaseURL != plain.URL {
		t.Fatalf("after removing certs got %v", c)
	}
	if got, err := get(t, c); err != nil || got != "bearer" {
		t.Fatalf("bearer request: %q %v", got, err)
	}
}

func TestPartialCertSetNamesTheMissingFile(t *testing.T) {
	for _, missing := range []string{"ca", "crt", "key"} {
		t.Run(missing, func(t *testing.T) {
			l := newLayout(t)
			path := map[string]string{"ca": l.ca, "crt": l.crt, "key": l.key}[missing]
			os.Remove(path)
			_, err := Resolve(l.config("http://127.0.0.1:1337", "https://127.0.0.1:1338"))
			if !errors.Is(err, ErrPartialCerts) {
				t.Fatalf("got %v, want ErrPartialCerts", err)
			}
			if !strings.Contains(err.Error(), "missing") || !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the missing file %s: %v", path, err)
			}
		})
	}
}

func TestRequireMTLS(t *testing.T) {
	l := newLayout(t)
	for _, p := range []string{l.ca, l.crt, l.key} {
		os.Remove(p)
	}
	cfg := l.config("http://127.0.0.1:1337", "https://127.0.0.1:1338")
	cfg.RequireMTLS = true
	if _, err := Resolve(cfg); !errors.Is(err, ErrNoCerts) {
		t.Fatalf("got %v, want ErrNoCerts", err)
	}
}

func TestWrongCAServerIsRejected(t *testing.T) {
	l := newLayout(t)
	other, err := testpki.NewCA("some other CA")
	if err != nil {
		t.Fatal(err)
	}
	srv := mtlsServer(t, other) // server cert from a CA the client does not trust
	c, err := Resolve(l.config("http://127.0.0.1:1", srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("handshake with a wrong-CA server: %v, want a certificate error", err)
	}
}

func TestCertExpiry(t *testing.T) {
	l := newLayout(t)
	now := time.Now()
	tests := []struct {
		name     string
		notAfter time.Time
		want     string
	}{
		{"fresh", now.Add(200 * 24 * time.Hour), ""},
		{"expiring in 10 days", now.Add(10 * 24 * time.Hour), "expiring"},
		{"expired", now.Add(-time.Hour), "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crt, key, err := l.authority.Issue(testpki.IssueOpts{CommonName: "canary", Client: true, NotBefore: now.Add(-48 * time.Hour), NotAfter: tt.notAfter})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(l.crt, crt, 0o644)
			os.WriteFile(l.key, key, 0o600)
			c, err := Resolve(l.config("http://127.0.0.1:1", "https://127.0.0.1:2"))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := c.CertExpiry(now, 30*24*time.Hour); got != tt.want {
				t.Fatalf("CertExpiry = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTokenFileChecks(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantErr string // "" = accepted
	}{
		{"0600 accepted", func(t *testing.T, p string) { writeToken(t, p, 0o600) }, ""},
		{"0400 accepted", func(t *testing.T, p string) { writeToken(t, p, 0o400) }, ""},
		{"0640 refused", func(t *testing.T, p string) { writeToken(t, p, 0o640) }, "chmod 600"},
		{"0644 refused", func(t *testing.T, p string) { writeToken(t, p, 0o644) }, "readable by others"},
		{"symlink refused", func(t *testing.T, p string) {
			real := p + ".real"
			writeToken(t, real, 0o600)
			os.Symlink(real, p)
		}, "symlink"},
		{"directory refused", func(t *testing.T, p string) { os.MkdirAll(p, 0o700) }, "directory"},
		{"FIFO refused without blocking", func(t *testing.T, p string) {
			os.MkdirAll(filepath.Dir(p), 0o700)
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"UTF-8 BOM refused", func(t *testing.T, p string) {
			os.MkdirAll(filepath.Dir(p), 0o700)
			os.WriteFile(p, []byte("\ufeff"+plantedToken+"\n"), 0o600)
		}, "byte order mark"},
		{"control byte refused", func(t *testing.T, p string) {
			os.MkdirAll(filepath.Dir(p), 0o700)
			os.WriteFile(p, []byte(plantedToken+"\x01\n"), 0o600)
		}, "control"},
		{"DEL refused", func(t *testing.T, p string) {
			os.MkdirAll(filepath.Dir(p), 0o700)
			os.WriteFile(p, []byte(plantedToken+"\x7f"), 0o600)
		}, "control"},
		{"empty refused", func(t *testing.T, p string) {
			os.MkdirAll(filepath.Dir(p), 0o700)
			os.WriteFile(p, nil, 0o600)
		}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secrets", "council-mlx.token")
			tt.setup(t, path)
			tok, err := ReadToken(path)
			if tt.wantErr == "" {
				if err != nil || tok != plantedToken {
					t.Fatalf("got %q, %v", tok, err)
				}
				return
			}
			if !errors.Is(err, ErrUnsafeSecret) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want ErrUnsafeSecret mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), plantedToken) {
				t.Fatal("the token leaked into the error")
			}
		})
	}
}

func TestMissingTokenIsPlain(t *testing.T) {
	srv := httptest.NewServer(echoHandler())
	defer srv.Close()
	c, err := Resolve(Config{Mode: Auto, URL: srv.URL, TokenFile: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != KindPlain {
		t.Fatalf("kind %s, want plain", c.Kind)
	}
	if got, _ := get(t, c); got != "anonymous" {
		t.Fatalf("plain sent credentials: %q", got)
	}
}

// A URL's password is never written out, whichever way the URL is refused.
func TestRefusedURLKeepsItsPasswordMasked(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "t")
	writeToken(t, tok, 0o600)
	for _, url := range []string{"http://probe:urlpass-PLANTED@192.0.2.10:1337", "ftp://probe:urlpass-PLANTED@127.0.0.1:1337"} {
		_, err := Resolve(Config{Mode: Bearer, URL: url, TokenFile: tok})
		if err == nil || strings.Contains(err.Error(), "urlpass-PLANTED") || !strings.Contains(err.Error(), "probe:xxxxx@") {
			t.Fatalf("%s: error %v, want a refusal naming the URL with its password masked", url, err)
		}
	}
}

func TestBearerNeverLeavesInClear(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "t")
	writeToken(t, tok, 0o600)
	for _, url := range []string{"http://192.0.2.10:1337", "http://council.example:1337"} {
		_, err := Resolve(Config{Mode: Bearer, URL: url, TokenFile: tok})
		if !errors.Is(err, ErrInsecureBearer) {
			t.Fatalf("%s: got %v, want ErrInsecureBearer", url, err)
		}
		if strings.Contains(err.Error(), plantedToken) {
			t.Fatal("token in error")
		}
	}
	for _, url := range []string{"http://127.0.0.1:1337", "http://localhost:1337", "http://[::1]:1337", "https://council.example:1338"} {
		if _, err := Resolve(Config{Mode: Bearer, URL: url, TokenFile: tok}); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
}

func TestClientStringHasNoToken(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "t")
	writeToken(t, tok, 0o600)
	c, err := Resolve(Config{Mode: Bearer, URL: "http://127.0.0.1:1337", TokenFile: tok})
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{c, *c} {
			if s := fmt.Sprintf(verb, v); strings.Contains(s, plantedToken) {
				t.Fatalf("token in %s of %T: %q", verb, v, s)
			}
		}
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	target := httptest.NewServer(echoHandler())
	defer target.Close()
	redir := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer redir.Close()
	tok := filepath.Join(t.TempDir(), "t")
	writeToken(t, tok, 0o600)
	c, _ := Resolve(Config{Mode: Bearer, URL: redir.URL, TokenFile: tok})
	got, err := get(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "bearer") {
		t.Fatal("redirect followed with the token")
	}
}

func TestBadMode(t *testing.T) {
	if _, err := Resolve(Config{Mode: "carrier-pigeon", URL: "http://127.0.0.1:1"}); !errors.Is(err, ErrBadMode) {
		t.Fatalf("got %v", err)
	}
}

func TestMTLSURLMustBeHTTPS(t *testing.T) {
	l := newLayout(t)
	for _, u := range []string{"http://127.0.0.1:1338", "127.0.0.1:1338", "localhost:1338", ""} {
		cfg := l.config("http://127.0.0.1:1337", u)
		cfg.RequireMTLS = true
		if c, err := Resolve(cfg); !errors.Is(err, ErrBadURL) {
			t.Errorf("mTLS URL %q: got %v, %v; want ErrBadURL", u, c, err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		raw       string
		httpsOnly bool
		ok        bool
	}{
		{"http://127.0.0.1:1337", false, true},
		{"https://council.lan/v1", false, true},
		{"https://127.0.0.1:1338", true, true},
		{"http://127.0.0.1:1338", true, false},
		{"127.0.0.1:1337", false, false},
		{"localhost:1337", false, false},
		{"ftp://127.0.0.1", false, false},
		{"http://", false, false},
		{"http:///path", false, false},
		{"http://127.0.0.1:1337/ x", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		err := CheckURL("--url", tt.raw, tt.httpsOnly)
		if (err == nil) != tt.ok {
			t.Errorf("CheckURL(%q, https only %v) = %v, want ok=%v", tt.raw, tt.httpsOnly, err, tt.ok)
		}
	}
	err := CheckURL("--force-flow-url", "ff:secretpw@127.0.0.1:4077", false)
	if err == nil || strings.Contains(err.Error(), "secretpw") || !strings.Contains(err.Error(), "--force-flow-url") {
		t.Errorf("error must name the setting and mask the password: %v", err)
	}
}

func TestFIFOCertDoesNotBlock(t *testing.T) {
	for _, which := range []string{"ca", "crt"} {
		t.Run(which, func(t *testing.T) {
			l := newLayout(t)
			path := map[string]string{"ca": l.ca, "crt": l.crt}[which]
			os.Remove(path)
			fifokit.Make(t, path)
			fifokit.Refused(t, "Resolve with the "+which+" a FIFO", func() error {
				_, err := Resolve(l.config("http://127.0.0.1:1337", "https://127.0.0.1:1338"))
				return err
			})
		})
	}
}
