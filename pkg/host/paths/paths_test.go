package paths

import "testing"

func TestLayout(t *testing.T) {
	h := Home("/Users/neo")
	tests := []struct{ got, want string }{
		{h.ConfigFile(), "/Users/neo/.sanctum/council-probes.conf"},
		{h.DriftMap(), "/Users/neo/.sanctum/council-drift.map"},
		{h.StateDir(), "/Users/neo/.sanctum/state"},
		{h.TokenFile(), "/Users/neo/.sanctum/secrets/council-mlx.token"},
		{h.CACert(), "/Users/neo/.sanctum/certs/ca.crt"},
		{h.ClientCert("pace"), "/Users/neo/.sanctum/certs/clients/pace.crt"},
		{h.ClientKey("pace"), "/Users/neo/.sanctum/certs/clients/pace.key"},
		{h.LogDir(), "/Users/neo/.openclaw/logs"},
		{h.ProbeLog("canary"), "/Users/neo/.openclaw/logs/council-canary.log"},
		{h.PrimaryLog(), "/Users/neo/.openclaw/logs/sanctum-mlx.log"},
		{h.LaunchAgents(), "/Users/neo/Library/LaunchAgents"},
		{h.SystemdUserDir(), "/Users/neo/.config/systemd/user"},
		{h.BinDir(), "/Users/neo/.local/bin"},
		{h.Repo(), "/Users/neo/sanctum-rs"},
		{h.PrimaryBinary(), "/Users/neo/sanctum-rs/target/release/sanctum-mlx"},
		{StateFile("/s", "parity-smoke"), "/s/council-parity-smoke.json"},
		{LockFile("/s", "drift"), "/s/council-drift.lock"},
		{OutboxFile("/s", "drift"), "/s/council-drift.outbox.json"},
		{FallbackLock("/s"), "/s/council-fallback.lock"},
		{RemediationLock("/s"), "/s/council-remediation.lock"},
		// The empty home gives paths relative to a home not known yet.
		{Home("").LaunchAgents(), "Library/LaunchAgents"},
		{Home("").SystemdUserDir(), ".config/systemd/user"},
		{FallbackLock(Home("").StateDir()), ".sanctum/state/council-fallback.lock"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestUserHomeFollowsHOME(t *testing.T) {
	t.Setenv("HOME", "/tmp/elsewhere")
	if got := UserHome().StateDir(); got != "/tmp/elsewhere/.sanctum/state" {
		t.Errorf("StateDir under HOME=/tmp/elsewhere: %q", got)
	}
}

func TestExpand(t *testing.T) {
	h := Home("/home/neo")
	for _, tc := range []struct{ in, want, err string }{
		{"", "/home/neo/.local/bin", ""},
		{"~", "/home/neo", ""},
		{"~/bin", "/home/neo/bin", ""},
		{"~/a/../b", "/home/neo/b", ""},
		{"/opt/x/", "/opt/x", ""},
		{"bin", "", `path "bin": must be absolute or start with ~/`},
		{"~neo/bin", "", `path "~neo/bin": must be absolute or start with ~/`},
	} {
		got, err := h.Expand(tc.in, ".local/bin")
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("Expand(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}
