package integrity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/host/hashcache"
	"github.com/sanctum/council-probes/pkg/host/manifest"
	"github.com/sanctum/council-probes/pkg/host/primarycheck"
	"github.com/sanctum/council-probes/pkg/host/signing"
)

// Reasons the manifest check fails, for errors.Is.
var (
	// errManifestSignature: the manifest's detached signature is missing,
	// malformed or does not verify. Nothing was hashed.
	errManifestSignature = errors.New("manifest signature invalid")
	// errManifestUnreadable: the manifest itself is missing, too large or
	// does not parse.
	errManifestUnreadable = errors.New("manifest unreadable")
	// errWeightsMismatch: a listed file is missing, unreadable or hashes
	// to something else; the Report names each.
	errWeightsMismatch = errors.New("weights do not match the manifest")
)

// manifestCheck verifies the weight manifest: its signature first, over the
// exact bytes then parsed, and only then every file it lists.
type manifestCheck struct {
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

// manifestResult is what the manifest check saw.
type manifestResult struct {
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
func (m *manifestCheck) Check(ctx context.Context) (manifestResult, error) {
	var res manifestResult
	if m.PubKey == "" {
		return res, &primarycheck.ConfigError{Err: errors.New("bad --manifest-pubkey \"\": want the key to verify --manifest with (or --signing-pubkey)")}
	}
	pub, err := signing.LoadPublicKey(m.PubKey)
	if err != nil {
		return res, &primarycheck.ConfigError{Err: err}
	}
	res.KeyFingerprint = signing.Fingerprint(pub)
	// Read once, bounded: the bytes verified must be the bytes parsed.
	data, err := atomicfile.ReadRegular(m.Path, manifest.MaxSize)
	if err != nil {
		return res, fmt.Errorf("%w: %w", errManifestUnreadable, err)
	}
	sigPath := m.SigPath
	if sigPath == "" {
		sigPath = signing.SigPath(m.Path)
	}
	sig, err := signing.ReadSignature(sigPath)
	if err != nil {
		return res, fmt.Errorf("%w: %w", errManifestSignature, err)
	}
	if err := signing.Verify(pub, bytes.NewReader(data), sig); err != nil {
		return res, fmt.Errorf("%w: %s: %w", errManifestSignature, m.Path, err)
	}
	man, err := manifest.Parse(bytes.NewReader(data), filepath.Dir(m.Path))
	if err != nil {
		return res, fmt.Errorf("%w: %s: %w", errManifestUnreadable, m.Path, err)
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
		return res, fmt.Errorf("%w: %w", errWeightsMismatch, err)
	}
	return res, nil
}

// BadFiles lists every file the report found wrong, by its manifest name.
func (r manifestResult) BadFiles() []string {
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
