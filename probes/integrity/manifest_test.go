package integrity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"

	"github.com/sanctum/council-probes/pkg/host/manifest"
	"github.com/sanctum/council-probes/pkg/host/primarycheck"
)

// weights lays out n weight files of size bytes under dir/model, writes
// their shasum manifest and signs it with priv. It returns the manifest
// path and the files' manifest names.
func weights(t testing.TB, dir, priv string, n, size int) (string, []string) {
	t.Helper()
	root := filepath.Join(dir, "model")
	if err := os.MkdirAll(filepath.Join(root, "shards"), 0o755); err != nil {
		t.Fatal(err)
	}
	var entries []manifest.Entry
	var names []string
	for i := range n {
		name := fmt.Sprintf("shards/model-%05d-of-%05d.safetensors", i+1, n)
		data := bytes.Repeat([]byte{byte(i + 1)}, size)
		copy(data, name)
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, manifest.Entry{Path: name, SHA256: sha256Hex(data), Binary: true})
		names = append(names, name)
	}
	var buf bytes.Buffer
	if err := manifest.Write(&buf, entries); err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(root, "SHA256SUMS")
	if err := os.WriteFile(m, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	probetest.SignFile(t, priv, m)
	return m, names
}

func TestManifestCheck(t *testing.T) {
	keys := t.TempDir()
	priv, pub := probetest.NewKey(t, keys, "weights")
	otherPriv, otherPub := probetest.NewKey(t, keys, "other")
	tests := []struct {
		name       string
		setup      func(t *testing.T, m string, names []string) (pubKey string)
		wantErr    error
		wantConfig bool
		wantBad    []string
		wantHashed bool
	}{
		{"all files match", func(t *testing.T, m string, names []string) string { return pub }, nil, false, nil, true},
		{"one weight file tampered", func(t *testing.T, m string, names []string) string {
			probetest.FlipByte(t, filepath.Join(filepath.Dir(m), names[1]), 100)
			return pub
		}, errWeightsMismatch, false, []string{"shards/model-00002-of-00003.safetensors"}, true},
		{"one weight file missing", func(t *testing.T, m string, names []string) string {
			os.Remove(filepath.Join(filepath.Dir(m), names[2]))
			return pub
		}, errWeightsMismatch, false, []string{"shards/model-00003-of-00003.safetensors"}, true},
		{"manifest tampered", func(t *testing.T, m string, names []string) string {
			// Point an entry at a digest the attacker controls: the
			// signature must fail before any file is read.
			data, _ := os.ReadFile(m)
			os.WriteFile(m, append([]byte(strings.Repeat("0", 64)+" *evil.bin\n"), data...), 0o644)
			return pub
		}, errManifestSignature, false, nil, false},
		{"manifest signed with another key", func(t *testing.T, m string, names []string) string {
			probetest.SignFile(t, otherPriv, m)
			return pub
		}, errManifestSignature, false, nil, false},
		{"verified with the other key", func(t *testing.T, m string, names []string) string { return otherPub }, errManifestSignature, false, nil, false},
		{"signature missing", func(t *testing.T, m string, names []string) string {
			os.Remove(m + ".sig")
			return pub
		}, errManifestSignature, false, nil, false},
		{"manifest missing", func(t *testing.T, m string, names []string) string {
			os.Remove(m)
			return pub
		}, errManifestUnreadable, false, nil, false},
		{"no public key configured", func(t *testing.T, m string, names []string) string { return "" }, nil, true, nil, false},
		{"public key unreadable", func(t *testing.T, m string, names []string) string { return m + ".nokey" }, nil, true, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m, names := weights(t, dir, priv, 3, 64<<10)
			cache := filepath.Join(dir, "state", "integrity-hashcache.json")
			mc := &manifestCheck{Path: m, PubKey: tt.setup(t, m, names), CachePath: cache, Workers: 2}
			res, err := mc.Check(context.Background())
			switch {
			case tt.wantConfig:
				if !primarycheck.IsConfigError(err) {
					t.Fatalf("Check = %v, want a config error", err)
				}
			case tt.wantErr == nil:
				if err != nil {
					t.Fatalf("Check = %v", err)
				}
			default:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Check = %v, want %v", err, tt.wantErr)
				}
			}
			if res.Hashed != tt.wantHashed {
				t.Errorf("Hashed = %v, want %v", res.Hashed, tt.wantHashed)
			}
			if !tt.wantHashed {
				if res.Stats.BytesHashed != 0 || res.Stats.Misses != 0 {
					t.Errorf("hashed before the signature verified: %+v", res.Stats)
				}
				if _, err := os.Stat(cache); !os.IsNotExist(err) {
					t.Errorf("hash cache written (%v) although nothing may be hashed", err)
				}
			}
			if got := res.BadFiles(); !reflect.DeepEqual(got, tt.wantBad) {
				t.Errorf("bad files = %q, want exactly %q", got, tt.wantBad)
			}
			for _, b := range tt.wantBad {
				if !strings.Contains(err.Error(), b) {
					t.Errorf("error %q does not name %s", err, b)
				}
			}
		})
	}
}

func TestManifestCheckCache(t *testing.T) {
	dir := t.TempDir()
	priv, pub := probetest.NewKey(t, dir, "weights")
	m, names := weights(t, dir, priv, 4, 32<<10)
	// The cache does not trust a digest taken within 2 s of the file's
	// ctime; a clock 10 s ahead makes the first pass cacheable.
	now := time.Now().Add(10 * time.Second)
	mc := &manifestCheck{Path: m, PubKey: pub, CachePath: filepath.Join(dir, "cache.json"), Workers: 2,
		FullEvery: time.Hour, Now: func() time.Time { return now }}
	ctx := context.Background()

	res, err := mc.Check(ctx)
	if err != nil || res.Stats.Misses != 4 {
		t.Fatalf("first pass: %v, stats %+v; want 4 files hashed", err, res.Stats)
	}
	res, err = mc.Check(ctx)
	if err != nil || res.Stats.Hits != 4 || res.Stats.BytesHashed != 0 {
		t.Fatalf("second pass: %v, stats %+v; want 4 cache hits and nothing read", err, res.Stats)
	}

	// A rewrite moves ctime: the cache is bypassed for exactly that file.
	probetest.FlipByte(t, filepath.Join(filepath.Dir(m), names[0]), 10)
	now = time.Now().Add(20 * time.Second)
	res, err = mc.Check(ctx)
	if !errors.Is(err, errWeightsMismatch) || res.Stats.Misses != 1 || res.Stats.Hits != 3 {
		t.Fatalf("after a rewrite: %v, stats %+v; want the one file re-hashed and named", err, res.Stats)
	}

	// Past FullEvery everything is read again.
	probetest.FlipByte(t, filepath.Join(filepath.Dir(m), names[0]), 10)
	now = now.Add(2 * time.Hour)
	res, err = mc.Check(ctx)
	if err != nil || !res.Stats.FullPass || res.Stats.Misses != 4 {
		t.Fatalf("full pass: %v, stats %+v", err, res.Stats)
	}
}

// BenchmarkManifestVerify measures the manifest check end to end
// (signature, parse, hash) over 16 files of 4 MiB: cold (every file read,
// as on a full pass) and cached (nothing changed since the last tick).
// The hashing speed against `openssl dgst -sha256` is measured by
// pkg/testkit/hashbench, which `make bench` runs.
func BenchmarkManifestVerify(b *testing.B) {
	dir := b.TempDir()
	priv, pub := probetest.NewKey(b, dir, "weights")
	const files, size = 16, 4 << 20
	m, _ := weights(b, dir, priv, files, size)
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		mc := &manifestCheck{Path: m, PubKey: pub}
		b.SetBytes(files * size)
		for b.Loop() {
			if _, err := mc.Check(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		later := time.Now().Add(time.Minute)
		mc := &manifestCheck{Path: m, PubKey: pub, CachePath: filepath.Join(dir, "cache.json"), Now: func() time.Time { return later }}
		if _, err := mc.Check(ctx); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			res, err := mc.Check(ctx)
			if err != nil || res.Stats.Hits != files {
				b.Fatalf("%v %+v", err, res.Stats)
			}
		}
	})
}
