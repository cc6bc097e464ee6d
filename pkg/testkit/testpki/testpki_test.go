package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func mustCA(t *testing.T, cn string) *CA {
	t.Helper()
	ca, err := NewCA(cn)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustPair(t *testing.T, ca *CA, o IssueOpts) tls.Certificate {
	t.Helper()
	p, err := ca.IssueKeyPair(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// handshake runs a real TLS handshake over loopback TCP with client auth
// required, and returns the client's and the server's handshake errors.
func handshake(t *testing.T, serverCA *CA, server tls.Certificate, clientRoots *x509.CertPool, client *tls.Certificate) (clientErr, serverErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvDone := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvDone <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, &tls.Config{
			Certificates: []tls.Certificate{server},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    serverCA.Pool(),
			MinVersion:   tls.VersionTLS12,
		})
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			srvDone <- err
			return
		}
		_, err = tc.Write([]byte("ok"))
		srvDone <- err
	}()
	cfg := &tls.Config{RootCAs: clientRoots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cfg)
	if err == nil {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		// With TLS 1.3 the client learns of a rejected cert only on read.
		var buf [2]byte
		_, err = io.ReadFull(conn, buf[:])
		if err == nil && string(buf[:]) != "ok" {
			err = errors.New("unexpected payload " + string(buf[:]))
		}
		conn.Close()
	}
	return err, <-srvDone
}

func TestHandshake(t *testing.T) {
	ca := mustCA(t, "test CA")
	other := mustCA(t, "other CA")
	server := mustPair(t, ca, IssueOpts{CommonName: "server", Server: true})
	good := mustPair(t, ca, IssueOpts{CommonName: "canary", Client: true})
	foreign := mustPair(t, other, IssueOpts{CommonName: "canary", Client: true})
	expired := mustPair(t, ca, IssueOpts{CommonName: "canary", Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	serverOnly := mustPair(t, ca, IssueOpts{CommonName: "notclient", Server: true})
	expiredServer := mustPair(t, ca, IssueOpts{CommonName: "server", Server: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})

	tests := []struct {
		name       string
		server     tls.Certificate
		roots      *x509.CertPool
		client     *tls.Certificate
		wantClient bool // client-side error expected
		wantServer bool // server-side error expected
	}{
		{name: "good client", server: server, roots: ca.Pool(), client: &good},
		{name: "no client cert", server: server, roots: ca.Pool(), wantClient: true, wantServer: true},
		{name: "client from other CA", server: server, roots: ca.Pool(), client: &foreign, wantClient: true, wantServer: true},
		{name: "expired client", server: server, roots: ca.Pool(), client: &expired, wantClient: true, wantServer: true},
		{name: "client cert without ClientAuth EKU", server: server, roots: ca.Pool(), client: &serverOnly, wantClient: true, wantServer: true},
		{name: "client does not trust server CA", server: server, roots: other.Pool(), client: &good, wantClient: true, wantServer: true},
		{name: "expired server", server: expiredServer, roots: ca.Pool(), client: &good, wantClient: true, wantServer: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cErr, sErr := handshake(t, ca, tt.server, tt.roots, tt.client)
			if (cErr != nil) != tt.wantClient {
				t.Errorf("client error = %v, want error %v", cErr, tt.wantClient)
			}
			if (sErr != nil) != tt.wantServer {
				t.Errorf("server error = %v, want error %v", sErr, tt.wantServer)
			}
		})
	}
}

func TestIssueDefaultsAndSANs(t *testing.T) {
	ca := mustCA(t, "test CA")
	crtPEM, _, err := ca.Issue(IssueOpts{CommonName: "srv", Server: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(crtPEM)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%q): %v", host, err)
		}
	}
	if d := time.Until(cert.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("NotAfter in %v, want about 365 days", d)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("verify against CA: %v", err)
	}
	if _, _, err := ca.Issue(IssueOpts{}); err == nil {
		t.Error("Issue with empty CommonName: want error")
	}
}

func TestWriteCouncilLayout(t *testing.T) {
	home := t.TempDir()
	ca := mustCA(t, "demo CA")
	if err := WriteCouncilLayout(home, ca, "guardian", "canary"); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(home, ".sanctum", "certs")
	modes := map[string]os.FileMode{
		certs:                                        0o700 | os.ModeDir,
		filepath.Join(certs, "clients"):              0o700 | os.ModeDir,
		filepath.Join(certs, "ca.crt"):               0o644,
		filepath.Join(certs, "server.crt"):           0o644,
		filepath.Join(certs, "server.key"):           0o600,
		filepath.Join(certs, "clients/guardian.crt"): 0o644,
		filepath.Join(certs, "clients/guardian.key"): 0o600,
		filepath.Join(certs, "clients/canary.crt"):   0o644,
		filepath.Join(certs, "clients/canary.key"):   0o600,
	}
	for p, want := range modes {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}

	// The written files make a working mTLS pair.
	caPEM, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	server, err := tls.LoadX509KeyPair(filepath.Join(certs, "server.crt"), filepath.Join(certs, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := tls.LoadX509KeyPair(filepath.Join(certs, "clients/canary.crt"), filepath.Join(certs, "clients/canary.key"))
	if err != nil {
		t.Fatal(err)
	}
	if cErr, sErr := handshake(t, ca, server, pool, &client); cErr != nil || sErr != nil {
		t.Errorf("handshake with written files: client %v, server %v", cErr, sErr)
	}
	leaf, _ := x509.ParseCertificate(client.Certificate[0])
	if leaf.Subject.CommonName != "canary" {
		t.Errorf("client CN = %q, want canary", leaf.Subject.CommonName)
	}

	if err := WriteCouncilLayout(home, ca, "../escape"); err == nil {
		t.Error("client name with a path separator: want error")
	}
}
