package units

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// Answers as systemd 252 (Debian 12) gives them. The error texts are
// systemd's own: logind's "User ID %u is not logged in or lingering"
// (BUS_ERROR_NO_SUCH_USER), sd-bus's "Failed to connect to bus" with the
// errno systemctl --user meets without a user bus (ENOMEDIUM when neither
// $XDG_RUNTIME_DIR nor $DBUS_SESSION_BUS_ADDRESS is set, ENOENT when the
// runtime directory has no bus socket), and the refusal on a system not
// booted with systemd, as captured on this build machine.
var (
	lingerYes    = Answer{Output: "Linger=yes\n"}
	lingerNo     = Answer{Output: "Linger=no\n"}
	notLoggedIn  = Answer{Output: "Failed to get user: User ID 1000 is not logged in or lingering\n", Code: 1}
	notBooted    = Answer{Output: "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n", Code: 1}
	noLoginctl   = Answer{Code: -1, Err: `loginctl: exec: "loginctl": executable file not found in $PATH`}
	managerUp    = Answer{Output: "ActiveState=active\nSubState=running\n"}
	managerDown  = Answer{Output: "ActiveState=inactive\nSubState=dead\n"}
	running      = Answer{Output: "SystemState=running\n"}
	degraded     = Answer{Output: "SystemState=degraded\n"}
	stopping     = Answer{Output: "SystemState=stopping\n"}
	noBusEnv     = Answer{Output: "Failed to connect to bus: No medium found\n", Code: 1}
	noBusSocket  = Answer{Output: "Failed to connect to bus: No such file or directory\n", Code: 1}
	timedOut     = Answer{Code: -1, Err: "systemctl: context deadline exceeded"}
	healthyLinux = Observations{User: "neo", UID: 1000, Self: true, Booted: true, Linger: lingerYes, Manager: managerUp, UserSystemctl: running}
)

func TestDiagnose(t *testing.T) {
	with := func(f func(*Observations)) Observations {
		o := healthyLinux
		f(&o)
		return o
	}
	tests := []struct {
		name string
		obs  Observations
		// want is each check's level, in order; fix is a text one Fix
		// must hold ("" for none).
		want []Level
		fix  string
		exit int
	}{
		{"all fine", healthyLinux, []Level{Fine, Fine, Fine, Fine}, "", 0},
		{"not booted with systemd", Observations{User: "neo", UID: 1000, Self: true}, []Level{Warn}, "make install-plists", 1},
		{"linger off", with(func(o *Observations) { o.Linger = lingerNo }), []Level{Fine, Warn, Fine, Fine}, "loginctl enable-linger neo", 1},
		{"logged out, no linger", with(func(o *Observations) { o.Linger, o.Manager, o.UserSystemctl = notLoggedIn, managerDown, noBusSocket }),
			[]Level{Fine, Warn, Warn, Warn}, "loginctl enable-linger neo", 1},
		{"no loginctl", with(func(o *Observations) { o.Linger = noLoginctl }), []Level{Fine, CannotTell, Fine, Fine}, "", 3},
		{"system bus refuses", with(func(o *Observations) { o.Linger, o.Manager = notBooted, notBooted }), []Level{Fine, CannotTell, CannotTell, Fine}, "", 3},
		{"a su shell without XDG_RUNTIME_DIR", with(func(o *Observations) { o.UserSystemctl = noBusEnv }), []Level{Fine, Fine, Fine, Warn}, "export XDG_RUNTIME_DIR=/run/user/1000", 1},
		{"degraded", with(func(o *Observations) { o.UserSystemctl = degraded }), []Level{Fine, Fine, Fine, Warn}, "systemctl --user --failed", 1},
		{"stopping", with(func(o *Observations) { o.UserSystemctl = stopping }), []Level{Fine, Fine, Fine, Warn}, "", 1},
		{"systemctl hangs", with(func(o *Observations) { o.UserSystemctl = timedOut }), []Level{Fine, Fine, Fine, CannotTell}, "", 3},
		{"asked for another user", with(func(o *Observations) { o.Self, o.UserSystemctl = false, Answer{} }), []Level{Fine, Fine, Fine, CannotTell}, "", 3},
		{"warn and cannot tell: cannot tell wins", with(func(o *Observations) { o.Linger, o.UserSystemctl = lingerNo, timedOut }),
			[]Level{Fine, Warn, Fine, CannotTell}, "loginctl enable-linger neo", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Diagnose(tt.obs)
			var got []Level
			fixes := ""
			for _, f := range fs {
				got = append(got, f.Level)
				fixes += f.Fix + "\n"
				if f.Level == Warn && f.Fix == "" && tt.name != "stopping" {
					t.Errorf("%s warns without a fix: %s", f.Check, f.Message)
				}
				if f.Level == CannotTell && !strings.Contains(f.Message, ":") {
					t.Errorf("%s cannot tell and does not say why: %s", f.Check, f.Message)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("levels %v, want %v\n%+v", got, tt.want, fs)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("%s: %s, want %s (%s)", fs[i].Check, got[i], tt.want[i], fs[i].Message)
				}
			}
			if !strings.Contains(fixes, tt.fix) {
				t.Errorf("no fix says %q:\n%s", tt.fix, fixes)
			}
			if code := DoctorExit(fs); code != tt.exit {
				t.Errorf("exit %d, want %d", code, tt.exit)
			}
		})
	}
}

// TestDiagnoseQuotesWhy: a command's own words reach the message, on one
// line and bounded.
func TestDiagnoseQuotesWhy(t *testing.T) {
	long := Answer{Output: "Failed:\x1b[31m " + strings.Repeat("x", 1000) + "\nsecond line", Code: 4}
	fs := Diagnose(Observations{User: "neo", UID: 1000, Self: true, Booted: true, Linger: long, Manager: managerUp, UserSystemctl: running})
	m := fs[1].Message
	if strings.ContainsAny(m, "\n\x1b") || len(m) > 500 || !strings.Contains(m, "exit 4: Failed:") {
		t.Errorf("message not one bounded line with the exit code: %q", m)
	}
}

func TestParseProperties(t *testing.T) {
	got := ParseProperties("ActiveState=active\nSubState=running\n\nnoise\nActiveState=second\nEmpty=\n")
	want := map[string]string{"ActiveState": "active", "SubState": "running", "Empty": ""}
	if len(got) != len(want) {
		t.Fatalf("ParseProperties = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestDoctorObserve runs the doctor's real commands against a fake
// loginctl and systemctl (real processes) and a fake root.
func TestDoctorObserve(t *testing.T) {
	bin := t.TempDir()
	log := filepath.Join(bin, "calls.log")
	loginctl := probetest.WriteScript(t, bin, "loginctl", `echo "loginctl $*" >> "`+log+`"; echo Linger=no`)
	systemctl := probetest.WriteScript(t, bin, "systemctl", `echo "systemctl $*" >> "`+log+`"
case "$*" in
--user*) echo "Failed to connect to bus: No medium found" >&2; exit 1 ;;
*) printf 'ActiveState=active\nSubState=running\n' ;;
esac`)
	root := t.TempDir()
	d := Doctor{User: "neo", UID: 1000, Self: true, Loginctl: loginctl, Systemctl: systemctl, Root: root, Timeout: 10 * time.Second}

	if o := d.Observe(context.Background()); o.Booted || o.Linger.Code != 0 || o.Linger.Output != "" {
		t.Errorf("no /run/systemd/system: %+v, want not booted and nothing asked", o)
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Errorf("commands ran on a system not booted with systemd")
	}
	if err := os.MkdirAll(filepath.Join(root, "run", "systemd", "system"), 0o755); err != nil {
		t.Fatal(err)
	}
	fs := Diagnose(d.Observe(context.Background()))
	b, _ := os.ReadFile(log)
	wantCalls := "loginctl show-user neo -p Linger\nsystemctl show user@1000.service -p ActiveState -p SubState\nsystemctl --user show -p SystemState\n"
	if string(b) != wantCalls {
		t.Errorf("calls:\n%s\nwant:\n%s", b, wantCalls)
	}
	var out strings.Builder
	WriteFindings(&out, fs)
	for _, want := range []string{"ok      systemd: booted with systemd", "warn    linger: linger is off for neo", "        fix: loginctl enable-linger neo",
		"ok      user manager: user@1000.service is active", "warn    systemctl --user: systemctl --user cannot reach a user manager from here", "Failed to connect to bus: No medium found"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if DoctorExit(fs) != 1 {
		t.Errorf("exit %d, want 1", DoctorExit(fs))
	}

	d.Loginctl = filepath.Join(bin, "no-such-loginctl")
	if o := d.Observe(context.Background()); o.Linger.Code != -1 || !strings.Contains(o.Linger.Err, "no-such-loginctl") {
		t.Errorf("a missing loginctl: %+v", o.Linger)
	}
}
