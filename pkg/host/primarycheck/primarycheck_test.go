package primarycheck

import (
	"os"
	"testing"

	"github.com/urfave/cli/v2"
)

// settingsFromArgs runs a one-command app with Flags and returns what
// SettingsFrom read.
func settingsFromArgs(t *testing.T, args ...string) Settings {
	t.Helper()
	var got Settings
	app := &cli.App{Name: "x", Flags: Flags(), Action: func(c *cli.Context) error {
		got = SettingsFrom(c, "/opt/sanctum-mlx")
		return nil
	}}
	if err := app.Run(append([]string{"x"}, args...)); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSettingsFrom(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want Settings
	}{
		{"defaults", nil, nil, Settings{Binary: "/opt/sanctum-mlx", Metallib: DefaultMetallib,
			Signature: SignatureSettings{Codesign: "codesign"}}},
		{"flags", nil, []string{"--metallib-name", "x.metallib", "--signing-pubkey", "/k.pub",
			"--codesign", "/usr/bin/codesign", "--codesign-requirement", "GJ994MN2YF"},
			Settings{Binary: "/opt/sanctum-mlx", Metallib: "x.metallib",
				Signature: SignatureSettings{PubKey: "/k.pub", Codesign: "/usr/bin/codesign", Requirement: "GJ994MN2YF"}}},
		{"environment", map[string]string{"COUNCIL_METALLIB_NAME": "e.metallib", "COUNCIL_SIGNING_PUBKEY": "/e.pub",
			"COUNCIL_CODESIGN": "/e/codesign", "COUNCIL_CODESIGN_REQUIREMENT": "ABCDE12345"}, nil,
			Settings{Binary: "/opt/sanctum-mlx", Metallib: "e.metallib",
				Signature: SignatureSettings{PubKey: "/e.pub", Codesign: "/e/codesign", Requirement: "ABCDE12345"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"COUNCIL_METALLIB_NAME", "COUNCIL_SIGNING_PUBKEY", "COUNCIL_CODESIGN", "COUNCIL_CODESIGN_REQUIREMENT"} {
				t.Setenv(k, tt.env[k]) // restored after the test
				if _, set := tt.env[k]; !set {
					os.Unsetenv(k)
				}
			}
			if got := settingsFromArgs(t, tt.args...); got != tt.want {
				t.Errorf("SettingsFrom = %+v, want %+v", got, tt.want)
			}
		})
	}
}
