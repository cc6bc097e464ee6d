package primarycheck

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"

	"github.com/sanctum/council-probes/pkg/host/signing"
)

func TestEd25519Verify(t *testing.T) {
	keys := t.TempDir()
	priv, pub := probetest.NewKey(t, keys, "release")
	otherPriv, _ := probetest.NewKey(t, keys, "other")
	tests := []struct {
		name       string
		setup      func(t *testing.T, bin string)
		pub        string
		wantBad    error // wrapped failure of the binary
		wantConfig bool
	}{
		{"signed", func(t *testing.T, bin string) {}, pub, nil, false},
		{"truncated one byte", func(t *testing.T, bin string) { truncateOne(t, bin) }, pub, signing.ErrBadSignature, false},
		{"one byte flipped", func(t *testing.T, bin string) { probetest.FlipByte(t, bin, 4096) }, pub, signing.ErrBadSignature, false},
		{"signed with another key", func(t *testing.T, bin string) { probetest.SignFile(t, otherPriv, bin) }, pub, signing.ErrBadSignature, false},
		{"signature missing", func(t *testing.T, bin string) { os.Remove(bin + ".sig") }, pub, os.ErrNotExist, false},
		{"signature truncated", func(t *testing.T, bin string) { truncateOne(t, bin+".sig") }, pub, signing.ErrSignatureSize, false},
		{"binary missing", func(t *testing.T, bin string) { os.Remove(bin) }, pub, os.ErrNotExist, false},
		{"public key missing", func(t *testing.T, bin string) {}, filepath.Join(keys, "nope.pub"), nil, true},
		{"public key garbage", func(t *testing.T, bin string) {}, writeGarbage(t, keys), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "sanctum-mlx")
			probetest.CopyFile(t, "/bin/sleep", bin, 0o755)
			probetest.SignFile(t, priv, bin)
			tt.setup(t, bin)
			v := &Ed25519{PubKey: tt.pub}
			err := v.Verify(context.Background(), bin)
			switch {
			case tt.wantConfig:
				if !IsConfigError(err) {
					t.Fatalf("Verify = %v, want a config error", err)
				}
			case tt.wantBad == nil:
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				if !strings.Contains(v.Describe(), "SHA256:") {
					t.Errorf("Describe = %q, want the key fingerprint", v.Describe())
				}
			default:
				if !errors.Is(err, tt.wantBad) || IsConfigError(err) {
					t.Fatalf("Verify = %v, want %v (not a config error)", err, tt.wantBad)
				}
			}
		})
	}
}

func writeGarbage(t *testing.T, dir string) string {
	p := filepath.Join(dir, "garbage.pub")
	os.WriteFile(p, []byte("not a key\n"), 0o644)
	return p
}

func TestTeamRequirement(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"team id", "GJ994MN2YF", `anchor apple generic and certificate leaf[subject.OU] = "GJ994MN2YF"`},
		{"team id with spaces", " GJ994MN2YF\n", `anchor apple generic and certificate leaf[subject.OU] = "GJ994MN2YF"`},
		{"full requirement", `identifier "com.sanctum.mlx" and anchor apple generic`, `identifier "com.sanctum.mlx" and anchor apple generic`},
		{"lowercase is not a team id", "gj994mn2yf", "gj994mn2yf"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TeamRequirement(tt.in); got != tt.want {
				t.Errorf("TeamRequirement(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCodesignArgs(t *testing.T) {
	tests := []struct {
		name, req, binary string
		want              []string
	}{
		{"unpinned", "", "/opt/sanctum-mlx", []string{"--verify", "--strict", "/opt/sanctum-mlx"}},
		{"team id", "GJ994MN2YF", "/opt/sanctum-mlx",
			[]string{"--verify", "--strict", `-R=anchor apple generic and certificate leaf[subject.OU] = "GJ994MN2YF"`, "/opt/sanctum-mlx"}},
		{"requirement text", `identifier "x"`, "/opt/b", []string{"--verify", "--strict", `-R=identifier "x"`, "/opt/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&Codesign{Requirement: tt.req}).Args(tt.binary)
			if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") {
				t.Errorf("Args = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("relative path made absolute", func(t *testing.T) {
		got := (&Codesign{}).Args("-rf")
		if last := got[len(got)-1]; !filepath.IsAbs(last) {
			t.Errorf("binary argument %q can be read as an option", last)
		}
	})
}

// fakeCodesign writes a codesign that records its argv (one per line) and
// answers like the real one for the case named by $FAKE_CODESIGN_MODE.
func fakeCodesign(t *testing.T) (path, argvLog string) {
	dir := t.TempDir()
	argvLog = filepath.Join(dir, "argv")
	path = probetest.WriteScript(t, dir, "codesign", `for a in "$@"; do printf '%s\n' "$a"; done > "`+argvLog+`"
case "$FAKE_CODESIGN_MODE" in
ok) exit 0 ;;
modified) echo "$4: invalid signature (code or signature have been modified)" >&2; echo "In architecture: arm64" >&2; exit 1 ;;
unsigned) echo "$3: code object is not signed at all" >&2; exit 1 ;;
adhoc) echo "$4: valid on disk" >&2; echo "$4: does not satisfy its designated Requirement" >&2; echo "test-requirement: code failed to satisfy specified code requirement(s)" >&2; exit 3 ;;
badreq) echo "codesign: invalid requirement: unexpected token" >&2; exit 2 ;;
esac
exit 9
`)
	return path, argvLog
}

func TestCodesignVerify(t *testing.T) {
	path, argvLog := fakeCodesign(t)
	bin := filepath.Join(t.TempDir(), "sanctum-mlx")
	tests := []struct {
		name, mode, req string
		want            error
		wantConfig      bool
		wantInMsg       string
	}{
		{"valid", "ok", "", nil, false, ""},
		{"valid and pinned", "ok", "GJ994MN2YF", nil, false, ""},
		{"bytes modified", "modified", "GJ994MN2YF", ErrCodesignInvalid, false, "code or signature have been modified"},
		{"not signed", "unsigned", "", ErrCodesignInvalid, false, "not signed at all"},
		{"ad-hoc re-sign fails the pinned requirement", "adhoc", "GJ994MN2YF", ErrRequirementUnsatisfied, false, "failed to satisfy"},
		{"bad requirement syntax", "badreq", "anchor (", nil, true, "exit 2"},
		{"unexpected exit", "other", "", nil, true, "exit 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("FAKE_CODESIGN_MODE", tt.mode)
			c := &Codesign{Path: path, Requirement: tt.req}
			err := c.Verify(context.Background(), bin)
			switch {
			case tt.wantConfig:
				if !IsConfigError(err) {
					t.Fatalf("Verify = %v, want a config error", err)
				}
			case tt.want == nil:
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
			default:
				if !errors.Is(err, tt.want) || IsConfigError(err) {
					t.Fatalf("Verify = %v, want %v", err, tt.want)
				}
			}
			if tt.wantInMsg != "" && !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("error %q does not carry codesign's answer %q", err, tt.wantInMsg)
			}
			argv, _ := os.ReadFile(argvLog)
			if want := strings.Join(c.Args(bin), "\n") + "\n"; string(argv) != want {
				t.Errorf("codesign ran with\n%s\nwant\n%s", argv, want)
			}
		})
	}
	t.Run("codesign not installed", func(t *testing.T) {
		err := (&Codesign{Path: filepath.Join(t.TempDir(), "codesign")}).Verify(context.Background(), bin)
		if !IsConfigError(err) {
			t.Fatalf("Verify = %v, want a config error (cannot check is not a bad binary)", err)
		}
	})
}
