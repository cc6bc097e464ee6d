package drift

import (
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// TestServerChangedCarriesNoEscapes: a server whose version turns into
// terminal escapes (a screen clear, a window title, a clipboard write, a
// bell, a carriage return, a right-to-left override) is news like any
// upgrade, but its notice, event and status line carry none of them.
// Before, server_changed sent the raw ESC, BEL and CR to Force Flow.
func TestServerChangedCarriesNoEscapes(t *testing.T) {
	f := newFixture(t)
	sim := f.withServer(councilsim.PersonalityOllama)
	f.run().mustExit(t, 0)
	if err := sim.SetFault(councilsim.FaultHostileIDs); err != nil {
		t.Fatal(err)
	}
	tk := f.run()
	tk.mustExit(t, 0)
	alerts := f.ff.AlertsFor(CheckServerChanged)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, "0.12.3 -> [2J]0;council-sim owned this terminal]52;c;b3duZWQ=0.12.3; fdp.exe") {
		t.Fatalf("server_changed alerts %+v: want one, naming the new version cleaned", alerts)
	}
	for _, s := range []string{alerts[0].Message, tk.Stdout, f.recorded().Version} {
		for _, r := range s {
			if r != '\n' && unicode.In(r, unicode.Cc, unicode.Cf) {
				t.Errorf("%U reached the notice, the status line or the state: %q", r, s)
				break
			}
		}
	}
}

// TestServerIdentitySeenInTheFuture: a model recorded as seen after now (a
// clock stepped back) is taken as seen now, with clock_skew, so it is not
// kept over the models seen since.
func TestServerIdentitySeenInTheFuture(t *testing.T) {
	f := newFixture(t)
	f.withServer(councilsim.PersonalityOllama)
	f.run().mustExit(t, 0)
	path := f.home.StateFile("drift")
	st, err := state.Load(path, "drift")
	if err != nil {
		t.Fatal(err)
	}
	id := f.recorded()
	future := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, m := range id.Models {
		m.SeenAt = future
		id.Models[name] = m
	}
	id.Models["an-old-model"] = modelIdentity{Digest: "sha256:0123456789ab", SeenAt: future}
	if err := st.Put(identityKey, id); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	tk := f.run()
	tk.mustExit(t, 0)
	skew := probetest.Find(tk.events, "clock_skew", "")
	if len(skew) < 2 || !strings.HasPrefix(skew[0]["key"].(string), identityKey+".models.") {
		t.Fatalf("clock_skew events %v: want one per model seen in the future", skew)
	}
	for name, m := range f.recorded().Models {
		if m.SeenAt.After(time.Now()) {
			t.Errorf("%s is still seen in %v", name, m.SeenAt)
		}
	}
}
