package pace

import (
	"fmt"
	"slices"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/probe"
	"github.com/sanctum/council-probes/pkg/server/backend"
)

// A server is a witness, not a judge: what it says about itself (the model
// id and system_fingerprint in its answers) never chooses or resets the
// baseline it is judged against. The key is the operator's; the server's
// words are watched for change and logged.

// identityKey holds the server's identity as the answers reported it.
const identityKey = "identity"

// identityWindow and maxIdentityChanges: a server whose identity changes
// more than maxIdentityChanges times in identityWindow is unstable (its
// own warn channel): a renamed model now and then is an upgrade; every
// tick is a server that lies, or one that keeps being replaced.
const (
	identityWindow     = 24 * time.Hour
	maxIdentityChanges = 3
)

// baselineKey is what a baseline belongs to: the operator's --model (the
// server's first listed id only when --model is empty, since then the
// operator asked for "whatever it serves") and the backend kind, when one
// was detected or configured. "generic" is the absence of evidence and
// never a change of key.
type baselineKey struct {
	Model, Backend string
}

func keyOf(t *probe.Tick, m measured) baselineKey {
	k := baselineKey{Model: m.Asked}
	if kind := t.Backend.Kind; kind != "" && kind != backend.Generic {
		k.Backend = string(kind)
	}
	return k
}

// changedKey says why a baseline learned for b's key does not apply to k
// ("" when it does).
func (b *baseline) changedKey(k baselineKey) string {
	switch {
	case b.Model != k.Model:
		return "model"
	case b.Backend != "" && k.Backend != "" && b.Backend != k.Backend:
		return "backend"
	}
	return ""
}

// identity is the server's identity as its answers reported it, and when
// it changed, for the identity_unstable channel.
type identity struct {
	// Key is the baseline key when --model is empty (the server's first
	// listed id): a change of it is the server's doing too.
	Key         string `json:"key,omitempty"`
	Model       string `json:"model,omitempty"`
	Fingerprint string `json:"system_fingerprint,omitempty"`
	Backend     string `json:"backend,omitempty"`
	// Changes are the times of the changes within identityWindow.
	Changes []time.Time `json:"changes,omitempty"`
}

// identityChange is one field of the identity that changed.
type identityChange struct {
	Field, From, To string
}

// observe records what the server said this tick and returns what changed.
// A field known on both sides and different is a change; a field the
// server did not report this time is not (servers send a fingerprint only
// sometimes).
func (id *identity) observe(cur identity) []identityChange {
	var out []identityChange
	field := func(name string, was *string, is string) {
		if is == "" {
			return
		}
		if *was != "" && *was != is {
			out = append(out, identityChange{Field: name, From: *was, To: is})
		}
		*was = is
	}
	field("model_key", &id.Key, cur.Key)
	field("model", &id.Model, cur.Model)
	field("system_fingerprint", &id.Fingerprint, cur.Fingerprint)
	field("backend", &id.Backend, cur.Backend)
	return out
}

// recent keeps the changes within identityWindow before now.
func (id *identity) recent(now time.Time) {
	id.Changes = slices.DeleteFunc(id.Changes, func(ts time.Time) bool { return now.Sub(ts) >= identityWindow })
}

// watchIdentity logs every change of what the server says it is
// (identity_changed, info) and warns on identity_unstable when it changed
// more than maxIdentityChanges times in identityWindow. The baseline is not
// touched: a fingerprint or a model name in the answers is the server's
// word, not the operator's.
func watchIdentity(t *probe.Tick, s settings, key baselineKey, m measured) {
	var id identity
	if _, err := t.State.Get(identityKey, &id); err != nil {
		t.Log.Warn("state_reset", "check", CheckIdentityUnstable, "error", err.Error())
		id = identity{}
	}
	now := t.Now()
	id.Changes = t.DropFuture(identityKey+".changes", id.Changes)
	cur := identity{Model: m.Model, Fingerprint: m.Fingerprint, Backend: key.Backend}
	if s.Model == "" {
		cur.Key = key.Model
	}
	changes := id.observe(cur)
	for _, c := range changes {
		t.Log.Info("identity_changed", "check", CheckIdentityUnstable, "field", c.Field, "from", c.From, "to", c.To,
			"baseline_model", key.Model, "reason", "what the server says it is changed; the baseline is the operator's and is kept")
		id.Changes = append(id.Changes, now)
	}
	id.recent(now)
	if n := len(id.Changes); n > maxIdentityChanges {
		last := changes
		detail := ""
		if len(last) > 0 {
			detail = fmt.Sprintf(" (last: %s %q -> %q)", last[0].Field, last[0].From, last[0].To)
		}
		t.Fail(CheckIdentityUnstable, "identity_unstable", alert.Warn,
			fmt.Sprintf("the server's identity changed %d times in %g h (more than %d)%s: a server that renames itself is not judged by its own name; the baseline of %s is kept",
				n, identityWindow.Hours(), maxIdentityChanges, detail, key.Model),
			"changes", n, "window_s", int(identityWindow.Seconds()))
	} else {
		t.PassQuiet(CheckIdentityUnstable)
	}
	if err := t.State.Put(identityKey, id); err != nil {
		t.Log.Warn("state_error", "key", identityKey, "error", err.Error())
	}
}
