package guardian_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/host/signing"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// primaryBuild is a primary binary as a release leaves it: a copy of the
// simulator with its metallib beside it and an ed25519 <binary>.sig.
type primaryBuild struct {
	bin, lib string
	pub      string // the release public key
	other    string // private key of someone else
}

func newPrimaryBuild(t *testing.T) primaryBuild {
	t.Helper()
	dir, keys := t.TempDir(), t.TempDir()
	b := primaryBuild{bin: filepath.Join(dir, "sanctum-mlx"), lib: filepath.Join(dir, "mlx.metallib")}
	copyExecutable(t, simBin, b.bin)
	if err := os.WriteFile(b.lib, []byte("MTLB metal library"), 0o644); err != nil {
		t.Fatal(err)
	}
	priv := filepath.Join(keys, "release.key")
	b.pub = filepath.Join(keys, "release.pub")
	b.other = filepath.Join(keys, "other.key")
	for _, k := range [][2]string{{priv, b.pub}, {b.other, filepath.Join(keys, "other.pub")}} {
		if _, err := signing.GenerateKey(k[0], k[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := signing.SignFile(priv, b.bin); err != nil {
		t.Fatal(err)
	}
	return b
}

func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// primaryChecks are the restore's primary_check_* events for check.
func primaryChecks(evs []map[string]any, event, check string) []map[string]any {
	var out []map[string]any
	for _, e := range probetest.Find(evs, event, "") {
		if e["primary_check"] == check {
			out = append(out, e)
		}
	}
	return out
}

// restore-primary runs council-integrity's checks of the primary binary
// before it changes anything: a binary integrity would demote again (bad
// signature) or one that cannot load its model (no metallib) is refused
// with exit 2 and no launchctl mutation, the fallback lock kept; a check
// that cannot run refuses with exit 3; a good binary is restored. The key
// reaches the check by flag, environment or the config file's [integrity]
// section, as it reaches integrity.
func TestRestorePrimaryChecksTheBinary(t *testing.T) {
	tests := []struct {
		name   string
		keyVia string // "flag", "env", "config" or "" (no key)
		break_ func(t *testing.T, b primaryBuild)
		code   int
		// failed are the primary checks that must fail, in order.
		failed     []string
		wantStderr []string
		wantStdout []string
	}{
		{name: "bad signature refused", keyVia: "flag",
			break_: func(t *testing.T, b primaryBuild) { probetest.FlipByte(t, b.bin, 4096) },
			code:   2, failed: []string{"signature"},
			wantStderr: []string{"primary check failed", "signature: ed25519", "signature invalid", "nothing was changed"}},
		{name: "signed by someone else refused", keyVia: "env",
			break_: func(t *testing.T, b primaryBuild) {
				if _, err := signing.SignFile(b.other, b.bin); err != nil {
					t.Fatal(err)
				}
			},
			code: 2, failed: []string{"signature"}, wantStderr: []string{"signature: ed25519", "nothing was changed"}},
		{name: "bad signature refused with the key from the config file", keyVia: "config",
			break_: func(t *testing.T, b primaryBuild) { probetest.FlipByte(t, b.bin, 4096) },
			code:   2, failed: []string{"signature"}, wantStderr: []string{"signature: ed25519", "nothing was changed"}},
		{name: "metallib missing refused", keyVia: "flag",
			break_: func(t *testing.T, b primaryBuild) { os.Remove(b.lib) },
			code:   2, failed: []string{"metallib"},
			wantStderr: []string{"primary check failed", "metallib: ", "metallib missing", "nothing was changed"}},
		{name: "both named when both fail", keyVia: "flag",
			break_: func(t *testing.T, b primaryBuild) { probetest.FlipByte(t, b.bin, 4096); os.Truncate(b.lib, 0) },
			code:   2, failed: []string{"signature", "metallib"},
			wantStderr: []string{"signature: ed25519", "metallib is empty"}},
		{name: "binary not executable refused", keyVia: "flag",
			break_: func(t *testing.T, b primaryBuild) { os.Chmod(b.bin, 0o644) },
			code:   2, failed: []string{"binary"}, wantStderr: []string{"not executable", "nothing was changed"}},
		{name: "unreadable key cannot check: configuration error", keyVia: "flag",
			break_: func(t *testing.T, b primaryBuild) { os.Remove(b.pub) },
			code:   3, wantStderr: []string{"signature check misconfigured", "nothing was changed"}},
		{name: "all good restored", keyVia: "flag", code: 0,
			wantStdout: []string{"primary check binary: ok", "primary check signature: ok (ed25519 key SHA256:", "primary check metallib: ok"}},
		{name: "no key: signature skipped with a note, restored", code: 0,
			wantStdout: []string{"primary check signature: skipped: no --signing-pubkey configured", "primary check metallib: ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			b := newPrimaryBuild(t)
			port := probetest.FreePort(t)
			writePlist(t, r.primaryPlist(), plistOpts{label: primaryLabel,
				args: r.simArgs(port, 0, "", filepath.Join(r.h.Dir, "primary.pid")), runAtLoad: boolp(true)})
			r.writeFallback() // a failed restore rolls back to it
			os.WriteFile(r.fallbackLock(), []byte(`{"who":"council-integrity","when":"2026-04-20T03:12:44Z","why":"signature invalid","pid":1}`+"\n"), 0o600)
			if tt.break_ != nil {
				tt.break_(t, b)
			}
			args := []string{"--url", fmt.Sprintf("http://127.0.0.1:%d", port), "--primary-binary", b.bin}
			var sub []string
			switch tt.keyVia {
			case "flag":
				sub = []string{"--signing-pubkey", b.pub}
			case "env":
				r.env = append(r.env, "COUNCIL_SIGNING_PUBKEY="+b.pub)
			case "config":
				conf := filepath.Join(r.h.Dir, "council-probes.conf")
				os.WriteFile(conf, []byte("[integrity]\nsigning-pubkey = "+b.pub+"\n"), 0o600)
				args = append(args, "--config", conf)
			}
			before := len(r.ld.Calls())
			res := r.run(append(append(args, "restore-primary"), sub...)...)
			wantCode(t, res, tt.code)
			for _, want := range tt.wantStderr {
				if !strings.Contains(res.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
				}
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(res.Stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, res.Stdout)
				}
			}
			evs := r.events()
			for _, check := range []string{"binary", "signature", "metallib"} {
				n := len(primaryChecks(evs, "primary_check_failed", check))
				if want := strings.Contains(strings.Join(tt.failed, " "), check); want != (n == 1) || n > 1 {
					t.Errorf("%d primary_check_failed events for %s, want failed=%v:\n%s", n, check, want, dump(evs))
				}
			}
			if tt.code != 0 {
				wantCalls(t, r.mutating(before))
				r.readLock()
				one(t, evs, "restore_failed", "fallback_activated")
				none(t, evs, "primary_restored")
				return
			}
			wantCalls(t, r.mutating(before),
				"bootout "+service(fallbackLabel),
				"disable "+service(fallbackLabel),
				"enable "+service(primaryLabel),
				"bootout "+service(primaryLabel),
				fmt.Sprintf("bootstrap gui/%d %s", uid, r.primaryPlist()),
				"kickstart -k "+service(primaryLabel))
			if _, err := os.Stat(r.fallbackLock()); !os.IsNotExist(err) {
				t.Errorf("fallback lock still there: %v", err)
			}
			one(t, evs, "primary_restored", "fallback_activated")
			if n := len(probetest.Find(evs, "primary_check_ok", "")); n < 2 {
				t.Errorf("%d primary_check_ok events, want one per check run:\n%s", n, dump(evs))
			}
		})
	}
}
