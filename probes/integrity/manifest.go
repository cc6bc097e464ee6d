package integrity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sanctum/council-probes/pkg/hashcache"
	"github.com/sanctum/council-probes/pkg/manifest"
	"github.com/sanctum/council-probes/pkg/primarycheck"
	"github.com/sanctum/council-probes/pkg/signing"
)

// MaxManifestSize bounds the manifest read into memory: a weight manifest
// is a line per file, and the bytes verified must be the bytes parsed.
const MaxManifestSize = 16 << 20

// Reasons the manifest check fails, for errors.Is.
var (
	// ErrManifestSignature: the manifest's detached signature is missing,
	// malformed or does not verify. Nothing was hashed.
	ErrManifestSignature = errors.New("manifest signature invalid")
	// ErrManifestUnreadable: the manifest itself is missing, too large or
	// does not parse.
	ErrManifestUnreadable = errors.New("manifest unreadable")
	// ErrWeightsMismatch: a listed file is missing, unreadable or hashes
	// to something else; the Report names each.
	ErrWeightsMismatch = errors.New("weights do not match the manifest")
)

// ManifestCheck verifies the weight manifest: its signature first, over the
// exact bytes then parsed, and only then every file it lists.
type ManifestCheck struct {
	Path    string // the shasum -a 256 manifest
	SigPath string // its detached signature; empty means <manifest>.sig
	PubKey  string // the public key file
	// CachePath is the hash cache (integrity-hashcache.json in the state
	// dir); empty hashes every file every time.
	CachePath string
	FullEvery time.Duration
	Workers   int
	// Now is the cache's clock; default time.Now.
	Now func() time.Time
}

// ManifestResult is what the manifest check saw.
type ManifestResult struct {
	KeyFingerprint string
	Report         manifest.Report
	Stats          hashcache.Stats
	// CacheWarning is a cache that could not be loaded or saved: it costs
	// a re-hash, never a wrong answer.
	CacheWarning error
	// Hashed is true once hashing started (false when the signature or
	// the manifest itself failed).
	Hashed bool
}

// Check runs the verification. Errors wrap ErrManifestSignature,
// ErrManifestUnreadable or ErrWeightsMismatch, or are a
// *primarycheck.ConfigError (no or unreadable public key), or the
// context's error.
func (m *ManifestCheck) Check(ctx context.Context) (ManifestResult, error) {
	var res ManifestResult
	if m.PubKey == "" {
		return res, &primarycheck.ConfigError{Err: errors.New("--manifest is set but no --manifest-pubkey (or --signing-pubkey) to verify it with")}
	}
	pub, err := signing.LoadPublicKey(m.PubKey)
	if err != nil {
		return res, &primarycheck.ConfigError{Err: err}
	}
	res.KeyFingerprint = signing.Fingerprint(pub)
	data, err := readBounded(m.Path, MaxManifestSize)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrManifestUnreadable, err)
	}
	sigPath := m.SigPath
	if sigPath == "" {
		sigPath = signing.SigPath(m.Path)
	}
	sig, err := signing.ReadSignature(sigPath)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrManifestSignature, err)
	}
	if err := signing.Verify(pub, bytes.NewReader(data), sig); err != nil {
		return res, fmt.Errorf("%w: %s: %w", ErrManifestSignature, m.Path, err)
	}
	man, err := manifest.Parse(bytes.NewReader(data), filepath.Dir(m.Path))
	if err != nil {
		return res, fmt.Errorf("%w: %s: %w", ErrManifestUnreadable, m.Path, err)
	}
	cache, warn := hashcache.Open(m.CachePath, hashcache.Options{Workers: m.Workers, FullEvery: m.FullEvery, Now: m.Now})
	res.CacheWarning = warn
	res.Hashed = true
	rep, err := man.Verify(ctx, cache)
	res.Report, res.Stats = rep, cache.Stats()
	if err != nil {
		return res, err
	}
	if err := cache.Save(); err != nil && res.CacheWarning == nil {
		res.CacheWarning = err
	}
	if err := rep.Err(); err != nil {
		return res, fmt.Errorf("%w: %w", ErrWeightsMismatch, err)
	}
	return res, nil
}

// BadFiles lists every file the report found wrong, by its manifest name.
func (r ManifestResult) BadFiles() []string {
	var out []string
	for _, m := range r.Report.Mismatched {
		out = append(out, m.Path)
	}
	out = append(out, r.Report.Missing...)
	for _, u := range r.Report.Unreadable {
		out = append(out, u.Path)
	}
	return out
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("manifest %s does not exist", path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("manifest %s is larger than %d bytes", path, limit)
	}
	return data, nil
}
