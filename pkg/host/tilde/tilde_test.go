package tilde

import "testing"

func TestPath(t *testing.T) {
	tests := []struct{ p, home, want string }{
		{"/Users/x/Library/LaunchAgents/a.plist", "/Users/x", "~/Library/LaunchAgents/a.plist"},
		{"/Users/x/Library/a", "/Users/x/", "~/Library/a"},
		{"/Users/x", "/Users/x", "~"},
		{"/Users/xavier/a", "/Users/x", "/Users/xavier/a"},
		{"/opt/sanctum/etc/instance.yaml", "/Users/x", "/opt/sanctum/etc/instance.yaml"},
		{"/etc/hosts", "/", "/etc/hosts"},
		{"/etc/hosts", "", "/etc/hosts"},
	}
	for _, tt := range tests {
		if got := Path(tt.p, tt.home); got != tt.want {
			t.Errorf("Path(%q, %q) = %q, want %q", tt.p, tt.home, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	const home = "/Users/x"
	tests := []struct{ name, in, want string }{
		{"several", "/Users/x/a differs from /Users/x/b", "~/a differs from ~/b"},
		{"home alone, then punctuation", "HOME is /Users/x; see /Users/x:", "HOME is ~; see ~:"},
		{"quoted", `stat "/Users/x/bin/sanctum-mlx": no such file`, `stat "~/bin/sanctum-mlx": no such file`},
		{"longer user name", "/Users/xavier/a and /Users/x.old/b", "/Users/xavier/a and /Users/x.old/b"},
		{"not at a path start", "/data/Users/x/a", "/data/Users/x/a"},
		{"nothing to do", "1 model(s) in 5ms", "1 model(s) in 5ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in, home); got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if got := Text("/a/b", "/"); got != "/a/b" {
		t.Errorf("home / changed %q", got)
	}
}
