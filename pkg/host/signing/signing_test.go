package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func keyPair(t *testing.T) (dir, priv, pub string) {
	t.Helper()
	dir = t.TempDir()
	priv, pub = filepath.Join(dir, "keys", "signing.key"), filepath.Join(dir, "keys", "signing.pub")
	if _, err := GenerateKey(priv, pub); err != nil {
		t.Fatal(err)
	}
	return dir, priv, pub
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestEd25519phVector pins the scheme to RFC 8032's Ed25519ph test vector
// ("TEST abc", section 7.3), so a signature from any conforming
// implementation verifies here.
func TestEd25519phVector(t *testing.T) {
	seed, _ := hex.DecodeString("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
	pub, _ := hex.DecodeString("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
	want, _ := hex.DecodeString("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41" +
		"31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406")
	priv := ed25519.NewKeyFromSeed(seed)
	sig, err := Sign(priv, strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sig, want) {
		t.Fatalf("signature = %x, want %x", sig, want)
	}
	if err := Verify(pub, strings.NewReader("abc"), want); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateKey(t *testing.T) {
	_, privPath, pubPath := keyPair(t)
	fi, err := os.Stat(privPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v, want 0600", fi.Mode().Perm())
	}
	priv, err := LoadPrivateKey(privPath)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) {
		t.Fatal("public key file does not match the private key")
	}

	before, _ := os.ReadFile(privPath)
	for _, paths := range [][2]string{
		{privPath, filepath.Join(filepath.Dir(pubPath), "other.pub")},
		{filepath.Join(filepath.Dir(privPath), "other.key"), pubPath},
	} {
		if _, err := GenerateKey(paths[0], paths[1]); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("GenerateKey over an existing file: err = %v, want fs.ErrExist", err)
		}
		for _, p := range paths {
			if p != privPath && p != pubPath {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("refused GenerateKey still wrote %s", p)
				}
			}
		}
	}
	if after, _ := os.ReadFile(privPath); !bytes.Equal(before, after) {
		t.Fatal("existing private key was overwritten")
	}
}

func TestSignAndVerifyFile(t *testing.T) {
	dir, privPath, pubPath := keyPair(t)
	pub, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPrivPath, otherPubPath := keyPair(t)
	otherPub, err := LoadPublicKey(otherPubPath)
	if err != nil {
		t.Fatal(err)
	}

	// Larger than the 1 MiB read buffer, so the prehash spans reads.
	content := bytes.Repeat([]byte("sanctum-mlx binary \x00\x01"), 200_000)
	bin := filepath.Join(dir, "sanctum-mlx")
	writeFile(t, bin, content, 0o755)
	sig, err := SignFile(privPath, bin)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(SigPath(bin))
	if err != nil || !bytes.Equal(onDisk, sig) || len(sig) != SignatureSize {
		t.Fatalf("signature file = %x (%v), want the %d returned bytes", onDisk, err, SignatureSize)
	}
	if err := VerifyFile(pub, bin, ""); err != nil {
		t.Fatalf("intact file: %v", err)
	}

	tests := []struct {
		name    string
		pub     ed25519.PublicKey
		setup   func(t *testing.T)
		wantErr error
		wantMsg string
	}{
		{
			name: "one byte of the file flipped",
			pub:  pub,
			setup: func(t *testing.T) {
				b := bytes.Clone(content)
				b[len(b)/2] ^= 1
				writeFile(t, bin, b, 0o755)
			},
			wantErr: ErrBadSignature,
			wantMsg: Fingerprint(pub),
		},
		{
			name: "one byte of the signature flipped",
			pub:  pub,
			setup: func(t *testing.T) {
				b := bytes.Clone(sig)
				b[10] ^= 0x80
				writeFile(t, SigPath(bin), b, 0o644)
			},
			wantErr: ErrBadSignature,
		},
		{
			name:    "other public key",
			pub:     otherPub,
			setup:   func(*testing.T) {},
			wantErr: ErrBadSignature,
			wantMsg: Fingerprint(otherPub),
		},
		{
			name: "signed with the other private key",
			pub:  pub,
			setup: func(t *testing.T) {
				if _, err := SignFile(otherPrivPath, bin); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: ErrBadSignature,
		},
		{
			name:    "truncated signature",
			pub:     pub,
			setup:   func(t *testing.T) { writeFile(t, SigPath(bin), sig[:63], 0o644) },
			wantErr: ErrSignatureSize,
			wantMsg: "63 bytes, want 64",
		},
		{
			name:    "empty signature",
			pub:     pub,
			setup:   func(t *testing.T) { writeFile(t, SigPath(bin), nil, 0o644) },
			wantErr: ErrSignatureSize,
			wantMsg: "0 bytes",
		},
		{
			name: "base64 signature instead of raw",
			pub:  pub,
			setup: func(t *testing.T) {
				writeFile(t, SigPath(bin), []byte(base64.StdEncoding.EncodeToString(sig)), 0o644)
			},
			wantErr: ErrSignatureSize,
			wantMsg: "more than 64 bytes",
		},
		{
			name:    "missing signature",
			pub:     pub,
			setup:   func(t *testing.T) { os.Remove(SigPath(bin)) },
			wantErr: fs.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFile(t, bin, content, 0o755)
			writeFile(t, SigPath(bin), sig, 0o644)
			tt.setup(t)
			err := VerifyFile(tt.pub, bin, "")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), bin) {
				t.Fatalf("err = %q, want it to name %s and contain %q", err, bin, tt.wantMsg)
			}
		})
	}
}

func TestVerifyManifestBytes(t *testing.T) {
	// The integrity probe reads the manifest once and checks the signature
	// over those bytes before parsing them.
	_, privPath, _ := keyPair(t)
	priv, err := LoadPrivateKey(privPath)
	if err != nil {
		t.Fatal(err)
	}
	manifest := []byte("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  model.safetensors\n")
	sig, err := Sign(priv, bytes.NewReader(manifest))
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if err := Verify(pub, bytes.NewReader(manifest), sig); err != nil {
		t.Fatal(err)
	}
	manifest[0] = 'c'
	if err := Verify(pub, bytes.NewReader(manifest), sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered manifest: err = %v, want ErrBadSignature", err)
	}
}

func TestPrivateKeyPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o700 | 0o001} {
		t.Run(mode.String(), func(t *testing.T) {
			_, privPath, _ := keyPair(t)
			if err := os.Chmod(privPath, mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadPrivateKey(privPath)
			if !errors.Is(err, ErrKeyPermissions) || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("err = %v, want ErrKeyPermissions with a hint", err)
			}
			if _, err := SignFile(privPath, privPath); !errors.Is(err, ErrKeyPermissions) {
				t.Fatalf("SignFile with an open key: err = %v", err)
			}
		})
	}
	t.Run("0400 is fine", func(t *testing.T) {
		_, privPath, _ := keyPair(t)
		if err := os.Chmod(privPath, 0o400); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadPrivateKey(privPath); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("owned by someone else", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to chown")
		}
		_, privPath, _ := keyPair(t)
		if err := os.Chown(privPath, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadPrivateKey(privPath); !errors.Is(err, ErrKeyPermissions) || !strings.Contains(err.Error(), "uid 12345") {
			t.Fatalf("err = %v, want ErrKeyPermissions naming the owner", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := LoadPrivateKey(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestParsePublicKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	pkix, err := MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)

	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{name: "PEM PUBLIC KEY", in: pkix},
		{name: "PEM ED25519 PUBLIC KEY", in: pem.EncodeToMemory(&pem.Block{Type: "ED25519 PUBLIC KEY", Bytes: pub})},
		{name: "base64 with newline", in: []byte(base64.StdEncoding.EncodeToString(pub) + "\n")},
		{name: "RSA key", in: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER}), wantErr: "not an ed25519 key"},
		{name: "short raw PEM", in: pem.EncodeToMemory(&pem.Block{Type: "ED25519 PUBLIC KEY", Bytes: pub[:31]}), wantErr: "31 bytes"},
		{name: "short base64", in: []byte(base64.StdEncoding.EncodeToString(pub[:16])), wantErr: "16 bytes"},
		{name: "certificate", in: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), wantErr: "unexpected PEM block"},
		{name: "garbage", in: []byte("not a key!"), wantErr: "neither PEM nor base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublicKey(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(pub) {
				t.Fatalf("got %x, %v", got, err)
			}
		})
	}
}

func TestParsePrivateKeyBase64(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	for name, raw := range map[string][]byte{"seed": priv.Seed(), "full key": priv} {
		got, err := ParsePrivateKey([]byte(base64.StdEncoding.EncodeToString(raw)))
		if err != nil || !got.Equal(priv) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	bad := bytes.Clone(priv)
	bad[40] ^= 1
	if _, err := ParsePrivateKey([]byte(base64.StdEncoding.EncodeToString(bad))); err == nil {
		t.Fatal("accepted a key whose public half does not match")
	}
}

// TestOpenSSLKeys reads keys made by openssl, the tool an operator would
// reach for.
func TestOpenSSLKeys(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	privPath, pubPath := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub")
	for _, argv := range [][]string{
		{"genpkey", "-algorithm", "ed25519", "-out", privPath},
		{"pkey", "-in", privPath, "-pubout", "-out", pubPath},
	} {
		if out, err := exec.Command("openssl", argv...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", argv, err, out)
		}
	}
	if err := os.Chmod(privPath, 0o600); err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKey(privPath)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) {
		t.Fatal("openssl public key does not match its private key")
	}
	file := filepath.Join(dir, "manifest.sha256")
	writeFile(t, file, []byte("x"), 0o644)
	if _, err := SignFile(privPath, file); err != nil {
		t.Fatal(err)
	}
	if err := VerifyFile(pub, file, ""); err != nil {
		t.Fatal(err)
	}
}
