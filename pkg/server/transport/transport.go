// Package transport picks how a network probe talks to the council and
// builds the HTTP client for it.
//
// Mode auto: if the CA cert, this client's cert and its key all exist, use
// mTLS against the mTLS URL; if none exist, use the bearer URL with the token
// (or no Authorization header at all when there is no token file: "plain");
// if only some exist, that is a misconfiguration, reported with the missing
// file named. Removing the cert files reverts to bearer with no code change;
// adding them switches to mTLS.
//
// The token is read only from a regular file owned by the user with no group
// or other permission bits (as ssh insists for keys), sent only over TLS or
// to a loopback address, and never appears in a log line or an error.
package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sanctum/council-probes/pkg/core/redact"
)

// Mode is the configured transport selection.
type Mode string

// Modes.
const (
	Auto   Mode = "auto"
	MTLS   Mode = "mtls"
	Bearer Mode = "bearer"
)

// Kind is the transport actually in use, as logged in every network event.
type Kind string

// Kinds.
const (
	KindMTLS   Kind = "mtls"
	KindBearer Kind = "bearer"
	KindPlain  Kind = "plain"
)

// Errors, checked with errors.Is / errors.As.
var (
	// ErrPartialCerts: some but not all of CA, client cert and key exist.
	ErrPartialCerts = errors.New("partial mTLS cert set")
	// ErrNoCerts: mTLS was required but the cert set is absent.
	ErrNoCerts = errors.New("mTLS required but no cert set found")
	// ErrUnsafeSecret: a token or key file is not a private regular file.
	ErrUnsafeSecret = errors.New("refusing to use secret file")
	// ErrInsecureBearer: a token would travel in clear text off the machine.
	ErrInsecureBearer = errors.New("refusing to send a bearer token over plain HTTP to a non-loopback address")
	// ErrBadMode: the mode is not auto, mtls or bearer.
	ErrBadMode = errors.New("unknown transport mode")
	// ErrBadURL: a URL setting is not an absolute http(s) URL with a host,
	// or an mTLS URL is not https.
	ErrBadURL = errors.New("bad URL")
)

// CheckURL checks that raw is an absolute http or https URL with a host
// (https only when httpsOnly), so a URL without a scheme or with a typo is a
// configuration error at startup, not a server that seems down. The error
// names the setting and shows the URL with any password masked.
func CheckURL(setting, raw string, httpsOnly bool) error {
	want := "http(s)://host[:port][/path]"
	if httpsOnly {
		want = "https://host[:port]"
	}
	u, err := url.Parse(raw)
	shown := redact.URL(raw)
	if i := strings.LastIndex(raw, "@"); i >= 0 && (err != nil || u.User == nil) {
		// Without a scheme, "user:pw@host" does not parse as credentials,
		// so nothing would mask them: show only what follows the '@'.
		shown = "…@" + redact.String(raw[i+1:])
	}
	switch {
	case err != nil, u.Opaque != "", u.Host == "", u.Hostname() == "", strings.ContainsAny(raw, " \t\r\n"):
		return fmt.Errorf("%s: %w %q: want %s", setting, ErrBadURL, shown, want)
	case u.Scheme != "https" && (httpsOnly || u.Scheme != "http"):
		why := "want " + want
		if httpsOnly && u.Scheme == "http" {
			why = "mTLS needs https (over http there would be no client certificate)"
		}
		return fmt.Errorf("%s: %w %q: %s", setting, ErrBadURL, shown, why)
	}
	return nil
}

// Config is what the common flags say about the transport.
type Config struct {
	Mode        Mode
	RequireMTLS bool
	URL         string // bearer/plain target
	MTLSURL     string
	CACert      string
	ClientCert  string
	ClientKey   string
	TokenFile   string
}

// Client is a resolved transport: where to send requests and how.
type Client struct {
	Kind    Kind
	BaseURL string
	HTTP    *http.Client
	// CertNotAfter and CertSubject describe the client certificate (mTLS).
	CertNotAfter time.Time
	CertSubject  string
	// token is unexported so encoding/json never writes it. fmt does print
	// unexported fields, so String and GoString (value receivers, to cover a
	// Client as well as a *Client) stand in for every verb.
	token string
}

// String describes the client without its secret.
func (c Client) String() string {
	return fmt.Sprintf("%s %s", c.Kind, c.BaseURL)
}

// GoString keeps %#v from printing the token.
func (c Client) GoString() string {
	return fmt.Sprintf("transport.Client{Kind: %q, BaseURL: %q}", c.Kind, c.BaseURL)
}

// Resolve applies the mode rules to cfg and returns a ready client.
func Resolve(cfg Config) (*Client, error) {
	mode := cfg.Mode
	if mode == "" {
		mode = Auto
	}
	if cfg.RequireMTLS {
		mode = MTLS
	}
	files := []struct{ what, path string }{
		{"CA cert", cfg.CACert}, {"client cert", cfg.ClientCert}, {"client key", cfg.ClientKey},
	}
	var present, missing []string
	for _, f := range files {
		if f.path != "" && exists(f.path) {
			present = append(present, f.what+" "+f.path)
		} else {
			missing = append(missing, f.what+" "+orUnset(f.path))
		}
	}
	switch mode {
	case Auto, MTLS:
		switch {
		case len(missing) == 0:
			return newMTLS(cfg)
		case len(present) > 0:
			return nil, fmt.Errorf("transport: %w: missing %s (present: %s); install the missing file or remove the others to use bearer",
				ErrPartialCerts, strings.Join(missing, ", "), strings.Join(present, ", "))
		case mode == MTLS:
			return nil, fmt.Errorf("transport: %w: missing %s", ErrNoCerts, strings.Join(missing, ", "))
		}
		return newBearer(cfg)
	case Bearer:
		return newBearer(cfg)
	}
	return nil, fmt.Errorf("transport: %w %q (want auto, mtls or bearer)", ErrBadMode, mode)
}

func newMTLS(cfg Config) (*Client, error) {
	if err := CheckURL("transport: mTLS URL", cfg.MTLSURL, true); err != nil {
		return nil, err
	}
	caPEM, err := readPublicFile(cfg.CACert, "CA cert")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("transport: CA cert %s holds no PEM certificate", cfg.CACert)
	}
	certPEM, err := readPublicFile(cfg.ClientCert, "client cert")
	if err != nil {
		return nil, err
	}
	keyPEM, err := readPrivateFile(cfg.ClientKey, "client key", maxPEM)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The tls error names the problem (mismatch, bad PEM), not key bytes.
		return nil, fmt.Errorf("transport: load client cert %s / key %s: %w", cfg.ClientCert, cfg.ClientKey, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("transport: parse client cert %s: %w", cfg.ClientCert, err)
	}
	tlsCfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	return &Client{
		Kind:         KindMTLS,
		BaseURL:      strings.TrimRight(cfg.MTLSURL, "/"),
		HTTP:         newHTTPClient(tlsCfg),
		CertNotAfter: leaf.NotAfter,
		CertSubject:  leaf.Subject.CommonName,
	}, nil
}

func newBearer(cfg Config) (*Client, error) {
	if err := CheckURL("transport: URL", cfg.URL, false); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL)
	token, err := ReadToken(cfg.TokenFile)
	if err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	if u.Scheme == "https" && cfg.CACert != "" && exists(cfg.CACert) {
		// Trust the house CA for a TLS bearer endpoint too.
		if caPEM, err := readPublicFile(cfg.CACert, "CA cert"); err == nil {
			pool, _ := x509.SystemCertPool()
			if pool == nil {
				pool = x509.NewCertPool()
			}
			pool.AppendCertsFromPEM(caPEM)
			tlsCfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
	}
	c := &Client{Kind: KindPlain, BaseURL: strings.TrimRight(cfg.URL, "/"), HTTP: newHTTPClient(tlsCfg)}
	if token != "" {
		if u.Scheme != "https" && !IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("transport: %w (%s); use https or a loopback URL", ErrInsecureBearer, redact.URL(cfg.URL))
		}
		c.Kind, c.token = KindBearer, token
	}
	return c, nil
}

// newHTTPClient returns a client that ignores proxy settings: the council is
// on this machine, and an HTTP_PROXY in launchd's environment must not
// reroute (or leak) a probe. Timeouts come from each request's context.
func newHTTPClient(tlsCfg *tls.Config) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   5 * time.Second,
		MaxIdleConns:          2,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 0, // the caller's context decides
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		// Never follow a redirect: it could carry the token elsewhere.
		return http.ErrUseLastResponse
	}}
}

// NewRequest builds a request for path (e.g. "/v1/models") against the base
// URL, with the Authorization header when a token is in use.
func (c *Client) NewRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, c.BaseURL+path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "council-probes")
	return req, nil
}

// CertExpiry classifies the client certificate's remaining life at now:
// "expired", "expiring" (inside warnWithin) or "" (fine, or not mTLS).
func (c *Client) CertExpiry(now time.Time, warnWithin time.Duration) (state string, left time.Duration) {
	if c.Kind != KindMTLS || c.CertNotAfter.IsZero() {
		return "", 0
	}
	left = c.CertNotAfter.Sub(now)
	switch {
	case left <= 0:
		return "expired", left
	case left < warnWithin:
		return "expiring", left
	}
	return "", left
}

// ReadToken reads a bearer token from path after checking that it is a
// regular file, owned by this user, with no group or other permission bits.
// An empty path or a missing file means "no token" (plain transport).
func ReadToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	// A token is one line; a larger file is not a token file.
	data, err := readPrivateFile(path, "token file", 64<<10)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("transport: %w %s: it is empty", ErrUnsafeSecret, path)
	}
	if strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("transport: %w %s: it holds more than one line", ErrUnsafeSecret, path)
	}
	// A BOM or a control byte is an editor's or a paste's accident, not a
	// token: sent, it reads as a wrong token (401) or fails every request,
	// and looks like a council that is down. (The token itself is never
	// part of the message.)
	if strings.HasPrefix(tok, "\ufeff") {
		return "", fmt.Errorf("transport: %w %s: it starts with a UTF-8 byte order mark (BOM); save it as plain ASCII", ErrUnsafeSecret, path)
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < 0x20 || c >= 0x7f {
			return "", fmt.Errorf("transport: %w %s: it holds a control or non-ASCII byte (0x%02x); a bearer token is printable ASCII", ErrUnsafeSecret, path, c)
		}
	}
	// From here on no sink of this process writes the token, whatever a
	// server echoes back.
	redact.AddSecret(tok)
	return tok, nil
}

// IsLoopback reports whether host (a name or an IP) is this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func orUnset(p string) string {
	if p == "" {
		return "(not configured)"
	}
	return p
}
