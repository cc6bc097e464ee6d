package drift

import (
	"strings"
	"testing"

	"howett.net/plist"

	"github.com/sanctum/council-probes/pkg/host/service"
)

func plistBytes(t testing.TB, format int, keys map[string]any) []byte {
	t.Helper()
	b, err := plist.MarshalIndent(keys, format, "\t")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPlistReasons(t *testing.T) {
	const label = "com.sanctum.server-mlx"
	base := func(extra map[string]any, drop ...string) map[string]any {
		m := map[string]any{"Label": label, "ProgramArguments": []string{"/bin/true"}, "KeepAlive": true, "RunAtLoad": false, "Disabled": true}
		for k, v := range extra {
			m[k] = v
		}
		for _, k := range drop {
			delete(m, k)
		}
		return m
	}
	tests := []struct {
		name string
		keys map[string]any
		want []string // exact reasons, in order
	}{
		{"disciplined", base(nil), nil},
		{"RunAtLoad true", base(map[string]any{"RunAtLoad": true}), []string{"RunAtLoad is true (it starts at login)"}},
		{"RunAtLoad missing with KeepAlive", base(nil, "RunAtLoad"), []string{"RunAtLoad is missing (KeepAlive=true starts it at login)"}},
		{"RunAtLoad missing with conditional KeepAlive", base(map[string]any{"KeepAlive": map[string]any{"SuccessfulExit": false}}, "RunAtLoad"),
			[]string{"RunAtLoad is missing (KeepAlive (a condition dictionary) starts it at login)"}},
		{"RunAtLoad missing without KeepAlive", base(nil, "RunAtLoad", "KeepAlive"), []string{"RunAtLoad is missing (it must be written out as false)"}},
		{"RunAtLoad a string", base(map[string]any{"RunAtLoad": "false"}), []string{"RunAtLoad is a string, want <false/>"}},
		{"Disabled missing", base(nil, "Disabled"), []string{"Disabled is missing (a login bootstrap loads it enabled)"}},
		{"Disabled false", base(map[string]any{"Disabled": false}), []string{"Disabled is false (a login bootstrap loads it enabled)"}},
		{"Disabled a number", base(map[string]any{"Disabled": 1}), []string{"Disabled is a number, want <true/>"}},
		{"other label", base(map[string]any{"Label": "com.sanctum.mlx"}), []string{`Label is "com.sanctum.mlx", want "com.sanctum.server-mlx"`}},
		{"a plist with KeepAlive only (incident I5)", base(nil, "RunAtLoad", "Disabled"), []string{
			"RunAtLoad is missing (KeepAlive=true starts it at login)",
			"Disabled is missing (a login bootstrap loads it enabled)",
		}},
	}
	for _, tt := range tests {
		for _, format := range []struct {
			name string
			f    int
		}{{"xml", plist.XMLFormat}, {"binary", plist.BinaryFormat}} {
			t.Run(tt.name+"/"+format.name, func(t *testing.T) {
				got, err := plistReasons(plistBytes(t, format.f, tt.keys), label)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
					t.Errorf("reasons:\n%q\nwant\n%q", got, tt.want)
				}
			})
		}
	}
}

// A grep would be fooled by a key in a comment or a string value; the
// parser is not.
func TestPlistReasonsIsNotAGrep(t *testing.T) {
	const doc = `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>Label</key><string>com.sanctum.server-mlx</string>
<!-- <key>RunAtLoad</key><false/> <key>Disabled</key><true/> -->
<key>Comment</key><string>&lt;key&gt;Disabled&lt;/key&gt;&lt;true/&gt;</string>
<key>KeepAlive</key><true/>
</dict></plist>`
	got, err := plistReasons([]byte(doc), "com.sanctum.server-mlx")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "RunAtLoad is missing") || !strings.HasPrefix(got[1], "Disabled is missing") {
		t.Fatalf("reasons = %q", got)
	}
}

func TestPlistReasonsUnparsable(t *testing.T) {
	for name, doc := range map[string]string{
		"garbage":    "this is not a plist {",
		"not a dict": `<?xml version="1.0"?><plist version="1.0"><array><string>x</string></array></plist>`,
	} {
		t.Run(name, func(t *testing.T) {
			if r, err := plistReasons([]byte(doc), "l"); err == nil {
				t.Fatalf("want a parse error, got reasons %q", r)
			}
		})
	}
}

func TestBootReason(t *testing.T) {
	const label, svc = "com.sanctum.server-mlx", "gui/501/com.sanctum.server-mlx"
	tests := []struct {
		name           string
		kind           service.Kind
		enabled, known bool
		want           string
	}{
		{"launchd: disabled", service.Launchd, false, true, ""},
		{"launchd: enabled", service.Launchd, true, true, "launchd has com.sanctum.server-mlx enabled"},
		{"launchd: no override", service.Launchd, true, false, "launchd's disabled state for com.sanctum.server-mlx is missing (launchctl disable gui/501/com.sanctum.server-mlx enforces it)"},
		{"systemd: disabled or static", service.Systemd, false, true, ""},
		{"systemd: enabled", service.Systemd, true, true, "systemd has ollama.service enabled (it starts at boot; systemctl disable ollama.service)"},
		{"systemd: no unit file", service.Systemd, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, target := label, svc
			if tt.kind == service.Systemd {
				name, target = "ollama", "ollama.service"
			}
			if got := bootReason(tt.kind, name, target, tt.enabled, tt.known); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
