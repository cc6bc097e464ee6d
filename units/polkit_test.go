package units

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// polkitStub is the part of polkitd's JavaScript environment a rules file
// sees (polkit(8), "AUTHORIZATION RULES"): polkit.Result, polkit.addRule,
// and rules consulted in order until one answers.
const polkitStub = `
var polkit = {
  Result: {NO: "no", YES: "yes", AUTH_SELF: "auth_self", AUTH_SELF_KEEP: "auth_self_keep",
           AUTH_ADMIN: "auth_admin", AUTH_ADMIN_KEEP: "auth_admin_keep", NOT_HANDLED: null},
  _rules: [],
  addRule: function (f) { this._rules.push(f); },
  _check: function (action, subject) {
    for (var i = 0; i < this._rules.length; i++) {
      var r = this._rules[i](action, subject);
      if (r !== null && r !== undefined) { return r; }
    }
    return null;
  }
};
function ask(id, user, details) {
  var action = {id: id, lookup: function (k) { return details[k]; }};
  return polkit._check(action, {user: user, local: false, active: false});
}
`

// ruleVM loads a rendered rules file into a JavaScript engine behind the
// polkit stub.
func ruleVM(t *testing.T, rules []byte) func(id, user string, details map[string]string) any {
	t.Helper()
	vm := goja.New()
	if _, err := vm.RunString(polkitStub); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.RunScript(PolkitFile, string(rules)); err != nil {
		t.Fatalf("the rules file does not run: %v\n%s", err, rules)
	}
	ask, ok := goja.AssertFunction(vm.Get("ask"))
	if !ok {
		t.Fatal("no ask function")
	}
	return func(id, user string, details map[string]string) any {
		v, err := ask(goja.Undefined(), vm.ToValue(id), vm.ToValue(user), vm.ToValue(details))
		if err != nil {
			t.Fatalf("ask(%s, %s, %v): %v", id, user, details, err)
		}
		return v.Export()
	}
}

// TestPolkitRuleGrantsExactly runs the rendered rule in a real ECMAScript
// engine for every combination of action, user, unit and verb: it answers
// "yes" for exactly the probes' user managing exactly the two units with
// the four verbs, and leaves everything else to the other rules.
func TestPolkitRuleGrantsExactly(t *testing.T) {
	r, err := NewPolkitRule("neo", "ollama", "llama-fallback.service")
	if err != nil {
		t.Fatal(err)
	}
	data, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	ask := ruleVM(t, data)
	const manage = "org.freedesktop.systemd1.manage-units"
	actions := []string{manage, "org.freedesktop.systemd1.manage-unit-files", "org.freedesktop.systemd1.reload-daemon", "org.freedesktop.login1.reboot"}
	users := []string{"neo", "root", "neo2", "Neo", ""}
	unitNames := []string{"ollama.service", "llama-fallback.service", "sshd.service", "ollama", "ollama.service.d", "ollama.socket", ""}
	// Every verb systemd passes (its commit "core: pass details to polkit
	// for some unit actions").
	verbs := []string{"start", "stop", "restart", "reset-failed", "reload", "try-restart", "reload-or-restart", "reload-or-try-restart", "kill", "set-property", ""}
	yes := 0
	for _, id := range actions {
		for _, user := range users {
			for _, unit := range unitNames {
				for _, verb := range verbs {
					details := map[string]string{"unit": unit, "verb": verb}
					want := id == manage && user == "neo" &&
						(unit == "ollama.service" || unit == "llama-fallback.service") &&
						slices.Contains([]string{"start", "stop", "restart", "reset-failed"}, verb)
					got := ask(id, user, details)
					if want && got != "yes" || !want && got != nil {
						t.Errorf("%s by %q on %q with %q: %v, want yes=%t", id, user, unit, verb, got, want)
					}
					if got == "yes" {
						yes++
					}
				}
			}
		}
	}
	if yes != 2*4 {
		t.Errorf("granted %d combinations, want 8", yes)
	}
	if got := ask(manage, "neo", map[string]string{}); got != nil {
		t.Errorf("no details at all: %v, want not handled", got)
	}
}

// TestPolkitRuleIsES5: polkit's rules must conform to ECMA-262 edition 5
// (polkit(8)); the engine above also takes later syntax, so the template
// is held to ES5 here.
func TestPolkitRuleIsES5(t *testing.T) {
	r, err := NewPolkitRule("neo", "ollama", "llama-fallback")
	if err != nil {
		t.Fatal(err)
	}
	data, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	code := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "//") {
			continue
		}
		code++
		for _, es6 := range []string{"let ", "const ", "=>", "`", "class ", "includes(", "..."} {
			if strings.Contains(line, es6) {
				t.Errorf("%q uses %q, which is not ECMAScript 5", line, es6)
			}
		}
	}
	if code < 10 {
		t.Errorf("only %d lines of code", code)
	}
}

func TestPolkitGolden(t *testing.T) {
	r, err := NewPolkitRule("neo", "ollama", "llama-fallback")
	if err != nil {
		t.Fatal(err)
	}
	data, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "polkit.rules.golden")
	if *update {
		if err := os.WriteFile(golden, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("%s differs from the rendered rule (run with -update if intended):\n--- got\n%s", golden, data)
	}
}

func TestPolkitNames(t *testing.T) {
	for in, want := range map[string]string{
		"ollama": "ollama.service", "ollama.service": "ollama.service", "llama.cpp": "llama.cpp.service",
		"llama-server@7b.service": "llama-server@7b.service", "vllm:main": "vllm:main.service",
	} {
		if got, err := ValidateUnitName(in); err != nil || got != want {
			t.Errorf("ValidateUnitName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ollama.socket", "ollama.timer", `a"b`, "a\nb", "a b", `a\x2db`, "-x", ".x",
		`x.service"]; polkit.addRule(function(){return polkit.Result.YES;}); ["`, "a@b@c.service", "é.service", strings.Repeat("a", 250)} {
		if got, err := ValidateUnitName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateUnitName(%q) = %q, %v; want ErrInvalidName", bad, got, err)
		}
	}
	for _, good := range []string{"neo", "_svc", "council-probes", "a1"} {
		if err := ValidateUserName(good); err != nil {
			t.Errorf("ValidateUserName(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "Neo", "1neo", "neo'", `neo"`, "neo;", "neo\n", "-neo", "neo.x", strings.Repeat("a", 33)} {
		if err := ValidateUserName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateUserName(%q): %v, want ErrInvalidName", bad, err)
		}
	}
	if _, err := NewPolkitRule("neo", "ollama", "ollama.service"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("the same unit twice: %v, want ErrInvalidName", err)
	}
	if _, err := NewPolkitRule("Neo", "a\"", "b;"); err == nil || strings.Count(err.Error(), "invalid name") != 3 {
		t.Errorf("three bad names: %v, want all three reported", err)
	}
}

// TestPolkitEveryValueEscaped: every {{...}} of the rule's template is a
// jsString (a JavaScript string) or a name (a validated name in a comment).
func TestPolkitEveryValueEscaped(t *testing.T) {
	tmpl, err := PolkitTemplate()
	if err != nil {
		t.Fatal(err)
	}
	if n := walkActions(t, tmpl.Tree.Root, map[string]bool{"jsString": true, "name": true}, ""); n < 8 {
		t.Errorf("found %d actions, want at least 8", n)
	}
	if _, err := nameText("a\nb"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("name lets a newline into a comment: %v", err)
	}
}
