// Package signing makes and checks the detached ed25519 signatures the
// integrity probe relies on where codesign does not exist: one over the
// primary binary (<binary>.sig) and one over the weight manifest.
//
// # Scheme
//
// Signatures are Ed25519ph (RFC 8032 section 5.1: Ed25519 over the SHA-512
// of the message, empty context), not pure Ed25519. Pure Ed25519 needs the
// whole message in memory twice over, and the binary is tens of megabytes;
// the prehash lets a file be streamed through a fixed buffer, so verifying
// costs the same memory whatever the file size. Both signatures use the same
// scheme. A pure-Ed25519 signature over the same bytes (what `openssl
// pkeyutl -sign -rawin` makes on OpenSSL 3.0) is a different signature and
// fails as ErrBadSignature: make signatures with SignFile or Sign. The RFC
// 8032 test vector in the tests pins the scheme, so any conforming
// Ed25519ph implementation interoperates.
//
// # Files
//
//   - Signature: exactly 64 raw bytes, next to the file as <file>.sig.
//   - Private key: PEM "PRIVATE KEY" (PKCS #8), as `openssl genpkey
//     -algorithm ed25519` writes it; mode 0600, owned by the user, refused
//     otherwise (as ssh refuses a readable key). Base64 of the 32-byte seed
//     or the 64-byte key is also read.
//   - Public key: PEM "PUBLIC KEY" (PKIX), as `openssl pkey -pubout` writes
//     it. Also read: PEM "ED25519 PUBLIC KEY" holding the raw 32 bytes, and
//     the raw 32 bytes in base64 on one line.
package signing

import (
	"bufio"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// SignatureSize is the size of a signature file.
const SignatureSize = ed25519.SignatureSize

// SigSuffix is appended to a file's name to find its signature.
const SigSuffix = ".sig"

var (
	// ErrBadSignature means the signature does not match the content and
	// key: the file was changed, or it was signed with another key.
	ErrBadSignature = errors.New("signature invalid")
	// ErrSignatureSize means a signature is not 64 bytes (truncated, or
	// not a raw signature at all).
	ErrSignatureSize = errors.New("signature is not 64 bytes")
	// ErrKeyPermissions means a private key file is open to group or
	// others, or not owned by the user.
	ErrKeyPermissions = errors.New("private key file is not private")
)

// ph selects Ed25519ph: the message passed to Sign/Verify is the SHA-512
// digest of the content.
var ph = &ed25519.Options{Hash: crypto.SHA512}

// SigPath is where the signature of file lives.
func SigPath(file string) string { return file + SigSuffix }

// Fingerprint names a public key in messages: "SHA256:" and the unpadded
// base64 of the SHA-256 of the raw key, the way ssh prints key fingerprints.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// GenerateKey makes a key pair and writes the private key (mode 0600) and
// the public key (mode 0644). It never overwrites: if either file exists it
// returns an error wrapping fs.ErrExist and writes nothing.
func GenerateKey(privPath, pubPath string) (ed25519.PublicKey, error) {
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("generate key: %s: %w", p, fs.ErrExist)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if err := createExclusive(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	pubPEM, err := MarshalPublicKey(pub)
	if err == nil {
		err = createExclusive(pubPath, pubPEM, 0o644)
	}
	if err != nil {
		os.Remove(privPath)
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return pub, nil
}

// createExclusive writes a new file, failing if it exists; O_EXCL makes the
// check and the creation one step, so a key is never silently replaced.
func createExclusive(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode) // the umask may have narrowed it
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// MarshalPublicKey encodes pub as PEM "PUBLIC KEY" (PKIX).
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey reads any of the public key formats in the package doc.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse public key: %w", err)
			}
			pub, ok := k.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("parse public key: a %T, not an ed25519 key", k)
			}
			return pub, nil
		case "ED25519 PUBLIC KEY":
			if len(block.Bytes) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("parse public key: ED25519 PUBLIC KEY block is %d bytes, want %d", len(block.Bytes), ed25519.PublicKeySize)
			}
			return ed25519.PublicKey(block.Bytes), nil
		default:
			return nil, fmt.Errorf("parse public key: unexpected PEM block %q", block.Type)
		}
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, errors.New("parse public key: neither PEM nor base64")
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("parse public key: base64 key is %d bytes, want %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// maxKeyFile bounds the read of a public key file: a key is 32 bytes,
// base64 and a comment line at most a few hundred.
const maxKeyFile = 64 << 10

// LoadPublicKey reads a public key file.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := atomicfile.ReadRegular(path, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load public key: %w", err)
	}
	pub, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

// ParsePrivateKey reads a PKCS #8 PEM private key, or the base64 of a
// 32-byte seed or a 64-byte key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("parse private key: unexpected PEM block %q, want PRIVATE KEY (PKCS #8)", block.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("parse private key: a %T, not an ed25519 key", k)
		}
		return priv, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, errors.New("parse private key: neither PEM nor base64")
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.PrivateKey(raw)
		// The second half is the public key; a mismatch means a corrupt
		// key that would make signatures nobody can verify.
		if !priv.Public().(ed25519.PublicKey).Equal(ed25519.NewKeyFromSeed(raw[:32]).Public()) {
			return nil, errors.New("parse private key: public half does not match its seed")
		}
		return priv, nil
	default:
		return nil, fmt.Errorf("parse private key: base64 key is %d bytes, want %d or %d", len(raw), ed25519.SeedSize, ed25519.PrivateKeySize)
	}
}

// LoadPrivateKey reads a private key file after checking that it is a
// regular file owned by the user with no group or other permission bits.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	f, err := atomicfile.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load private key %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("load private key %s: mode %04o allows group or others (chmod 600 it): %w", path, perm, ErrKeyPermissions)
	}
	if err := checkOwner(fi); err != nil {
		return nil, fmt.Errorf("load private key %s: %w", path, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	priv, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}

// prehash is the SHA-512 of everything r yields, read in 1 MiB chunks.
func prehash(r io.Reader) ([]byte, error) {
	h := sha512.New()
	// bufio.Reader hides *os.File's WriteTo, which would read in 32 KiB
	// steps; the large buffer keeps syscalls few on a big binary.
	if _, err := io.Copy(h, bufio.NewReaderSize(r, 1<<20)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// Sign returns the Ed25519ph signature of everything r yields.
func Sign(priv ed25519.PrivateKey, r io.Reader) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	digest, err := prehash(r)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	sig, err := priv.Sign(nil, digest, ph)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// Verify checks sig against everything r yields. A bad signature wraps
// ErrBadSignature and names the key's fingerprint; a signature of the wrong
// length wraps ErrSignatureSize.
func Verify(pub ed25519.PublicKey, r io.Reader, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verify: public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if len(sig) != SignatureSize {
		return fmt.Errorf("verify: signature is %d bytes, want %d: %w", len(sig), SignatureSize, ErrSignatureSize)
	}
	digest, err := prehash(r)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := ed25519.VerifyWithOptions(pub, digest, sig, ph); err != nil {
		return fmt.Errorf("verify: %w with key %s (content changed, or signed with another key)", ErrBadSignature, Fingerprint(pub))
	}
	return nil
}

// SignFile signs file with the private key at privKeyPath, writes the
// signature atomically to SigPath(file) and returns it.
func SignFile(privKeyPath, file string) ([]byte, error) {
	priv, err := LoadPrivateKey(privKeyPath)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", file, err)
	}
	f, err := atomicfile.OpenRegular(file)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	defer f.Close()
	sig, err := Sign(priv, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := atomicfile.WriteFile(SigPath(file), sig, 0o644); err != nil {
		return nil, fmt.Errorf("sign %s: %w", file, err)
	}
	return sig, nil
}

// ReadSignature reads a signature file, refusing anything but 64 bytes.
func ReadSignature(path string) ([]byte, error) {
	f, err := atomicfile.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("read signature: %w", err)
	}
	defer f.Close()
	// Read one byte more than a signature so an oversized file is told
	// apart without reading all of it.
	sig, err := io.ReadAll(io.LimitReader(f, SignatureSize+1))
	if err != nil {
		return nil, fmt.Errorf("read signature: %w", err)
	}
	if len(sig) != SignatureSize {
		what := fmt.Sprintf("%d bytes", len(sig))
		if len(sig) > SignatureSize {
			what = "more than 64 bytes"
		}
		return nil, fmt.Errorf("read signature %s: %s, want %d raw bytes: %w", path, what, SignatureSize, ErrSignatureSize)
	}
	return sig, nil
}

// VerifyFile checks file against its detached signature at sigPath
// (SigPath(file) when sigPath is empty), streaming the file.
func VerifyFile(pub ed25519.PublicKey, file, sigPath string) error {
	if sigPath == "" {
		sigPath = SigPath(file)
	}
	sig, err := ReadSignature(sigPath)
	if err != nil {
		return fmt.Errorf("verify %s: %w", file, err)
	}
	f, err := atomicfile.OpenRegular(file)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	if err := Verify(pub, f, sig); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}
