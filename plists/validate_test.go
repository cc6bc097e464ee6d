package plists

import (
	"errors"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

func renderOne(t *testing.T, name string) Rendered {
	t.Helper()
	cfg := resolved(t, Config{Home: goldenHome})
	if name == "server-mlx" {
		r, err := cfg.RenderFallback()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, p := range suite.Probes {
		if p.Name == name {
			r, err := Render(cfg.ProbeJob(p))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("no probe %s", name)
	return Rendered{}
}

// TestValidateCatches breaks a valid rendered plist one way at a time;
// each must be refused with a message naming the problem.
func TestValidateCatches(t *testing.T) {
	const guardianBin = "<string>/Users/neo/.local/bin/council-guardian</string>"
	tests := []struct {
		name    string
		plist   string
		edit    func(string) string
		secrets []Secret
		want    string
	}{
		{name: "wrong interval", plist: "guardian",
			edit: func(s string) string { return strings.Replace(s, "<integer>30</integer>", "<integer>31</integer>", 1) },
			want: "StartInterval is 31, want 30"},
		{name: "no interval", plist: "guardian",
			edit: func(s string) string {
				return strings.Replace(s, "<key>StartInterval</key>\n\t<integer>30</integer>", "", 1)
			},
			want: "StartInterval is missing"},
		{name: "wrong calendar", plist: "parity-smoke",
			edit: func(s string) string { return strings.Replace(s, "<integer>3</integer>", "<integer>4</integer>", 1) },
			want: "StartCalendarInterval is {Hour:4 Minute:0}"},
		{name: "wrong label", plist: "canary",
			edit: func(s string) string {
				return strings.Replace(s, "council-canary</string>", "council-kanary</string>", 1)
			},
			want: "Label is"},
		{name: "extra program flag", plist: "guardian",
			edit: func(s string) string {
				return strings.Replace(s, guardianBin, guardianBin+"<string>--dry-run</string>", 1)
			},
			want: "ProgramArguments are"},
		{name: "RunAtLoad not set", plist: "guardian",
			edit: func(s string) string { return strings.Replace(s, "<key>RunAtLoad</key>\n\t<false/>", "", 1) },
			want: "RunAtLoad is not set"},
		{name: "RunAtLoad flipped", plist: "drift",
			edit: func(s string) string {
				return strings.Replace(s, "<key>RunAtLoad</key>\n\t<true/>", "<key>RunAtLoad</key>\n\t<false/>", 1)
			},
			want: "RunAtLoad is false, want true"},
		{name: "not Background", plist: "integrity",
			edit: func(s string) string {
				return strings.Replace(s, "<string>Background</string>", "<string>Interactive</string>", 1)
			},
			want: "ProcessType is \"Interactive\""},
		{name: "stdout is the JSON log", plist: "canary",
			edit: func(s string) string { return strings.Replace(s, "council-canary.out", "council-canary.log", 1) },
			want: "the probe's own JSON-lines log"},
		{name: "stdout and stderr the same", plist: "canary",
			edit: func(s string) string { return strings.Replace(s, "council-canary.err", "council-canary.out", 1) },
			want: "are the same file"},
		{name: "typo key", plist: "guardian",
			edit: func(s string) string {
				return strings.Replace(s, "<key>StartInterval</key>", "<key>StartIntervall</key>", 1)
			},
			want: `unexpected key "StartIntervall"`},
		{name: "KeepAlive on a probe", plist: "guardian",
			edit: func(s string) string {
				return strings.Replace(s, "</dict>\n</plist>", "<key>KeepAlive</key><true/></dict>\n</plist>", 1)
			},
			want: `unexpected key "KeepAlive"`},
		{name: "secret env var", plist: "guardian",
			edit: func(s string) string {
				return strings.Replace(s, "</dict>\n</plist>", "<key>EnvironmentVariables</key><dict><key>COUNCIL_API_KEY</key><string>x</string></dict></dict>\n</plist>", 1)
			},
			want: `EnvironmentVariables holds "COUNCIL_API_KEY"`},
		{name: "bearer header in an argument", plist: "guardian",
			edit: func(s string) string {
				return strings.Replace(s, guardianBin, guardianBin+"<string>Authorization: Bearer abc</string>", 1)
			},
			want: "looks like a credential"},
		{name: "planted token", plist: "guardian",
			edit: func(s string) string {
				return strings.Replace(s, guardianBin, guardianBin+"<string>"+probetest.PlantedToken+"</string>", 1)
			},
			secrets: []Secret{{Name: "the bearer token", Value: probetest.PlantedToken}},
			want:    "contains the bearer token"},
		{name: "planted token in a comment", plist: "guardian",
			edit: func(s string) string {
				return strings.Replace(s, "<dict>", "<dict><!-- "+probetest.PlantedToken+" -->", 1)
			},
			secrets: []Secret{{Name: "the bearer token", Value: probetest.PlantedToken}},
			want:    "contains the bearer token"},
		{name: "double hyphen in a comment", plist: "guardian",
			edit: func(s string) string { return strings.Replace(s, "No KeepAlive.", "No --keep-alive.", 1) },
			want: `XML comment contains "--"`},
		{name: "not a plist", plist: "guardian",
			edit: func(s string) string { return strings.Replace(s, "</dict>", "", 1) },
			want: "parse:"},
		{name: "fallback RunAtLoad true", plist: "server-mlx",
			edit: func(s string) string {
				return strings.Replace(s, "<key>RunAtLoad</key>\n\t<false/>", "<key>RunAtLoad</key>\n\t<true/>", 1)
			},
			want: "would start at login"},
		{name: "fallback RunAtLoad missing", plist: "server-mlx",
			edit: func(s string) string { return strings.Replace(s, "<key>RunAtLoad</key>\n\t<false/>", "", 1) },
			want: "RunAtLoad is not set"},
		{name: "fallback not Disabled", plist: "server-mlx",
			edit: func(s string) string { return strings.Replace(s, "<key>Disabled</key>\n\t<true/>", "", 1) },
			want: "must carry Disabled=true"},
		{name: "fallback without KeepAlive", plist: "server-mlx",
			edit: func(s string) string {
				return strings.Replace(s, "<key>KeepAlive</key>\n\t<true/>", "<key>KeepAlive</key>\n\t<false/>", 1)
			},
			want: "must carry KeepAlive=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := renderOne(t, tt.plist)
			if err := Validate(r, tt.secrets); err != nil {
				t.Fatalf("the unedited plist is invalid: %v", err)
			}
			edited := tt.edit(string(r.Data))
			if edited == string(r.Data) {
				t.Fatal("the edit changed nothing: fix the test")
			}
			r.Data = []byte(edited)
			err := Validate(r, tt.secrets)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrInvalid with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), probetest.PlantedToken) {
				t.Errorf("the error repeats the secret")
			}
		})
	}
}
