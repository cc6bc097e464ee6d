// Package testpki generates a throwaway X.509 PKI in process: a CA, server
// certificates valid for the loopback names, and client certificates. Tests
// use it to stand up real mTLS servers and clients; `make demo` uses it (via
// `council-sim pki`) to lay out the default cert files under a scratch HOME.
//
// Keys are ECDSA P-256. Nothing here is meant for production: the CA key is
// kept in memory only and never written to disk.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// CA is an in-memory certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// IssueOpts describes a leaf certificate to issue.
type IssueOpts struct {
	CommonName string
	// Server adds the loopback SANs (127.0.0.1, ::1, localhost) and the
	// ServerAuth extended key usage.
	Server bool
	// Client adds the ClientAuth extended key usage.
	Client bool
	// NotBefore and NotAfter bound the validity; zero values mean
	// now-1h and now+365d.
	NotBefore, NotAfter time.Time
}

// NewCA creates a self-signed CA valid from an hour ago for ten years.
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"council-probes test PKI"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &CA{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// Pool returns a cert pool holding only this CA, for RootCAs or ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue signs a new leaf certificate and returns it and its private key
// (PKCS#8) as PEM.
func (ca *CA) Issue(o IssueOpts) (certPEM, keyPEM []byte, err error) {
	if o.CommonName == "" {
		return nil, nil, errors.New("issue certificate: empty common name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %q: generate key: %w", o.CommonName, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notBefore, notAfter := o.NotBefore, o.NotAfter
	if notBefore.IsZero() {
		notBefore = now.Add(-time.Hour)
	}
	if notAfter.IsZero() {
		notAfter = now.AddDate(0, 0, 365)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.CommonName},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if o.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	if o.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %q: sign: %w", o.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %q: marshal key: %w", o.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// CertsDir returns home/.sanctum/certs, the default cert directory.
func CertsDir(home string) string { return filepath.Join(home, ".sanctum", "certs") }

// WriteCouncilLayout lays out the default cert layout under home, as the
// probes expect it:
//
//	home/.sanctum/certs/ca.crt
//	home/.sanctum/certs/server.crt, server.key   (server cert for the simulator)
//	home/.sanctum/certs/clients/<client>.crt, <client>.key
//
// Keys are written mode 0600 and directories 0700. Each client cert has the
// client name as its CommonName.
func WriteCouncilLayout(home string, ca *CA, clients ...string) error {
	if ca == nil {
		return errors.New("write cert layout: nil CA")
	}
	certs := CertsDir(home)
	clientDir := filepath.Join(certs, "clients")
	for _, d := range []string{certs, clientDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("write cert layout: %w", err)
		}
		// MkdirAll leaves an existing directory's mode alone; tighten it.
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("write cert layout: %w", err)
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(certs, "ca.crt"), ca.CertPEM, 0o644); err != nil {
		return err
	}
	crt, key, err := ca.Issue(IssueOpts{CommonName: "council-sim", Server: true})
	if err != nil {
		return fmt.Errorf("write cert layout: %w", err)
	}
	if err := writePair(filepath.Join(certs, "server"), crt, key); err != nil {
		return err
	}
	for _, c := range clients {
		if c == "" || c != filepath.Base(c) || c == "." || c == ".." {
			return fmt.Errorf("write cert layout: invalid client name %q", c)
		}
		crt, key, err := ca.Issue(IssueOpts{CommonName: c, Client: true})
		if err != nil {
			return fmt.Errorf("write cert layout: %w", err)
		}
		if err := writePair(filepath.Join(clientDir, c), crt, key); err != nil {
			return err
		}
	}
	return nil
}

func writePair(base string, crt, key []byte) error {
	if err := atomicfile.WriteFile(base+".crt", crt, 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(base+".key", key, 0o600)
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	return s, nil
}

// IssueKeyPair is Issue returning a tls.Certificate ready for a tls.Config.
func (ca *CA) IssueKeyPair(o IssueOpts) (tls.Certificate, error) {
	crt, key, err := ca.Issue(o)
	if err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue %q: load key pair: %w", o.CommonName, err)
	}
	return pair, nil
}
