package units

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/suite"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestValidateCatches: each way a unit could go wrong is reported, and the
// message never carries the secret it found.
func TestValidateCatches(t *testing.T) {
	cfg := resolved(t, Config{Home: goldenHome})
	guardian, _ := suite.Lookup("guardian")
	parity, _ := suite.Lookup("parity-smoke")
	svc, tmr, err := Render(cfg.ProbeJob(guardian))
	if err != nil {
		t.Fatal(err)
	}
	_, daily, err := Render(cfg.ProbeJob(parity))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []Secret{{Name: "the planted token", Value: probetest.PlantedToken}}
	replace := func(u Unit, old, new string) Unit {
		if !bytes.Contains(u.Data, []byte(old)) {
			t.Fatalf("%s has no %q", u.Name, old)
		}
		u.Data = bytes.Replace(u.Data, []byte(old), []byte(new), 1)
		return u
	}
	tests := []struct {
		name string
		unit Unit
		want string
	}{
		{"Environment= with the token", replace(svc, "\nType=oneshot\n", "\nType=oneshot\nEnvironment=COUNCIL_TOKEN="+probetest.PlantedToken+"\n"), "Environment= has no place"},
		{"the token in a comment", replace(svc, "# One run", "# "+probetest.PlantedToken+"\n# One run"), "contains the planted token"},
		{"EnvironmentFile=", replace(svc, "\nType=oneshot\n", "\nType=oneshot\nEnvironmentFile=/home/neo/.env\n"), "EnvironmentFile= has no place"},
		{"a bearer credential", replace(svc, "Description=council-guardian", "Description=Bearer abc council-guardian"), "looks like a credential"},
		{"another program", replace(svc, "ExecStart=/home/neo/.local/bin/council-guardian", "ExecStart=/bin/sh"), "reads back as"},
		{"an extra argument", replace(svc, "council-guardian\n#", "council-guardian --dry-run\n#"), "reads back as"},
		{"a variable in an argument", replace(svc, "council-guardian\n#", "council-guardian $HOME\n#"), "variable"},
		{"a lone specifier", replace(svc, "Description=council-guardian", "Description=council-guardian %i"), "specifier"},
		{"a continued line", replace(svc, "\nType=oneshot\n", "\nType=oneshot \\\n"), "continued"},
		{"a forking service", replace(svc, "\nType=oneshot\n", "\nType=forking\n"), "want \"oneshot\""},
		{"a setting in the wrong section", replace(svc, "[Service]\n", "[Service]\nDescription=x\n"), "unexpected setting Description= in [Service]"},
		{"a typo", replace(tmr, "\nAccuracySec=1s\n", "\nAccuracySec=1s\nOnUnitActiveSex=30s\n"), "unexpected setting OnUnitActiveSex="},
		{"a setting twice", replace(tmr, "\nAccuracySec=1s\n", "\nAccuracySec=1s\nAccuracySec=1s\n"), "set twice"},
		{"the default accuracy", replace(tmr, "\nAccuracySec=1s\n", "\n"), "AccuracySec= is missing"},
		{"another interval", replace(tmr, "\nOnUnitActiveSec=30s\n", "\nOnUnitActiveSec=1min\n"), "is 1m0s, want 30s"},
		{"a tick at load", replace(tmr, "\nOnStartupSec=30s\n", "\nOnStartupSec=0\n"), "is 0s, want 30s"},
		{"the reload-armed OnActiveSec=", replace(tmr, "\nOnStartupSec=30s\n", "\nOnActiveSec=30s\n"), "unexpected setting OnActiveSec="},
		{"a boot timer", replace(tmr, "\nOnStartupSec=30s\n", "\nOnStartupSec=30s\nOnBootSec=0\n"), "unexpected setting OnBootSec="},
		{"not persistent", replace(daily, "\nPersistent=true\n", "\nPersistent=false\n"), "want \"true\""},
		{"another time", replace(daily, "03:00:00", "04:00:00"), "want \"*-*-* 03:00:00\""},
		{"no install section", replace(tmr, "\nWantedBy=timers.target\n", "\n"), "WantedBy= is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.unit, secrets)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v\nwant ErrInvalid mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), probetest.PlantedToken) {
				t.Errorf("the error carries the secret: %v", err)
			}
		})
	}
	for _, u := range []Unit{svc, tmr, daily} {
		if err := Validate(u, secrets); err != nil {
			t.Errorf("the unmodified %s: %v", u.Name, err)
		}
	}
}

func TestSplitCommandLine(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"/bin/probe", []string{"/bin/probe"}, false},
		{`/bin/probe --log-file /var/log/x.log`, []string{"/bin/probe", "--log-file", "/var/log/x.log"}, false},
		{`"/a b/probe" "x y" 'z w'`, []string{"/a b/probe", "x y", "z w"}, false},
		{`/bin/p "a\"b\\c" "$$HOME" "100%%"`, []string{"/bin/p", `a"b\c`, "$HOME", "100%"}, false},
		{`/bin/p$x "a b"`, []string{"/bin/p$x", "a b"}, false}, // the program is not variable-expanded
		{`/bin/p ""`, []string{"/bin/p", ""}, false},
		{`/bin/p "unbalanced`, nil, true},
		{`/bin/p "a"b`, nil, true},
		{`/bin/p \q`, nil, true},
		{`/bin/p $HOME`, nil, true},
		{`/bin/p %i`, nil, true},
	}
	for _, tt := range tests {
		got, err := SplitCommandLine(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("SplitCommandLine(%q) = %q, %v; want %q, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// FuzzExecRoundTrip: whatever arguments execText accepts, SplitCommandLine
// reads back exactly.
func FuzzExecRoundTrip(f *testing.F) {
	f.Add("/home/neo/.local/bin/council-pace", "--log-file", `/var/log/a "b" \c $d %e ;`)
	f.Add("/a b/%x", ";", "")
	f.Fuzz(func(t *testing.T, prog, a, b string) {
		args := []string{prog, a, b}
		line, err := execText(args)
		if err != nil {
			return
		}
		got, err := SplitCommandLine(line)
		if err != nil || !slices.Equal(got, args) {
			t.Fatalf("execText(%q) = %q, read back as %q, %v", args, line, got, err)
		}
	})
}

func TestParseSpan(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"30", 30 * time.Second, true},
		{"30s", 30 * time.Second, true},
		{"10min", 10 * time.Minute, true},
		{"1h 30min", 90 * time.Minute, true},
		{"2min 200ms", 2*time.Minute + 200*time.Millisecond, true},
		{"1d", 24 * time.Hour, true},
		{"", 0, false},
		{"soon", 0, false},
		{"5 fortnights", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSpan(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSpan(%q) = %s, %v; want %s, ok %t", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseUnit(t *testing.T) {
	ss, err := ParseUnit([]byte("# c\n; c\n[Unit]\n Description = a b \n\n[Service]\nExecStart=/bin/x a=b\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Setting{{"Unit", "Description", "a b", 4}, {"Service", "ExecStart", "/bin/x a=b", 7}}
	if !slices.Equal(ss, want) {
		t.Errorf("ParseUnit = %+v, want %+v", ss, want)
	}
	for _, bad := range []string{"Description=x\n", "[Unit]\nno equals\n", "[Unit\n", "[Unit]\nA=b \\\n c\n"} {
		if _, err := ParseUnit([]byte(bad)); err == nil {
			t.Errorf("ParseUnit(%q) accepted it", bad)
		}
	}
}
