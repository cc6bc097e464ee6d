//go:build !darwin

package primarycheck

import (
	"strings"
	"testing"
)

// Off macOS, no key is a visible skip, not a pass and not a failure.
func TestPlatformVerifierOffDarwin(t *testing.T) {
	v, skip := PlatformVerifier(SignatureSettings{})
	if v != nil || !strings.Contains(skip, "--signing-pubkey") {
		t.Errorf("no key: verifier %v, reason %q; want a skip naming --signing-pubkey", v, skip)
	}
	v, skip = PlatformVerifier(SignatureSettings{PubKey: "/k.pub", SigPath: "/b.sig"})
	ed, ok := v.(*Ed25519)
	if !ok || skip != "" || ed.PubKey != "/k.pub" || ed.SigPath != "/b.sig" {
		t.Errorf("with a key: verifier %#v, reason %q; want Ed25519 with the key and signature", v, skip)
	}
}
