// Package suite is the one list of the council probes. Everything that
// needs to know which probes exist reads it here: the probes themselves
// (their schedule), the LaunchAgent plists, council-status's rows, drift's
// expected agents and heartbeats, the simulator's client certificates, and
// the tests that hold the Makefile, the binaries and the README's probe
// table to it. Adding a probe is its package plus one entry in Probes.
package suite

import (
	"fmt"
	"time"
)

// Probe is one probe as the machinery around it sees it.
type Probe struct {
	// Name is the probe's name: its binary is council-<Name>, its launchd
	// label <prefix>.council-<Name>, its state file council-<Name>.json.
	Name string
	// Asks is the question the probe answers, in a few words (the plist's
	// and the unit's description).
	Asks string
	// Every is how often it runs; zero for a probe that runs daily at At.
	Every time.Duration
	// At is the time of day of a daily probe; nil for an interval probe.
	At *TimeOfDay
	// RunAtLoad says whether the scheduler also starts it at load (login or
	// boot), and Why says why that is right for this probe.
	RunAtLoad bool
	Why       string
	// Network: the probe's checks talk to the server, so it takes the
	// transport flags. (Every probe has a client certificate of its own:
	// integrity, too, asks the fallback whether it serves after promoting
	// it.)
	Network bool
	// ChecksAgents marks the probe that checks the other probes' agents are
	// loaded (drift): it takes --label-prefix.
	ChecksAgents bool
	// OnServerChange marks a probe whose verdict belongs to the server
	// version and model that gave it (answers, the context window): when
	// drift sees the server change, it starts the probe at once instead of
	// leaving the new server unchecked until its next run.
	OnServerChange bool
}

// TimeOfDay is a daily start time, local time.
type TimeOfDay struct {
	Hour, Minute int
}

// String is "03:00".
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute) }

// Binary is the probe's binary name.
func (p Probe) Binary() string { return "council-" + p.Name }

// Label is the probe's launchd label under prefix ("com.sanctum").
func (p Probe) Label(prefix string) string { return prefix + "." + p.Binary() }

// ServiceUnit is the probe's systemd service unit, council-<name>.service
// (a oneshot: it runs one tick), and TimerUnit the timer that starts it on
// its schedule: what the units of the install render, and what drift
// expects active under systemd.
func (p Probe) ServiceUnit() string { return p.Binary() + ".service" }

// TimerUnit: see ServiceUnit.
func (p Probe) TimerUnit() string { return p.Binary() + ".timer" }

// Interval is how often the probe runs: Every, or a day for a daily probe.
// A probe whose last tick is older than a few intervals is stale.
func (p Probe) Interval() time.Duration {
	if p.At != nil {
		return 24 * time.Hour
	}
	return p.Every
}

// Schedule says when the probe runs, for people: "every 30s", "daily at
// 03:00".
func (p Probe) Schedule() string {
	if p.At != nil {
		return "daily at " + p.At.String()
	}
	return "every " + shortDuration(p.Every)
}

func shortDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// Probes are the suite's probes, in install order.
var Probes = []Probe{
	{
		Name: "guardian", Asks: "is it up; if not, fix it", Every: 30 * time.Second, Network: true,
		Why: "at login or boot the primary spends about 80 s verifying its manifest and loading weights; a tick at load would count the first failure at once and reach the restart threshold (3) at about 60 s, killing a healthy primary mid-load. The first tick comes one interval after load.",
	},
	{
		Name: "canary", Asks: "does it answer correctly", Every: 10 * time.Minute, Network: true,
		Why: "at login or boot the primary is still loading its weights, so a chat completion at load measures the boot, not the service, and adds GPU load to the boot stampede.",
	},
	{
		Name: "drift", Asks: "is what runs what we committed", Every: time.Hour, RunAtLoad: true, Network: true, ChecksAgents: true,
		Why: "a reboot is exactly when the fallback's boot discipline is tested (the fallback won the port race at login). Its checks read files and the service manager's state, not the server, so they are valid at once; waiting an hour is how a boot race goes unnoticed.",
	},
	{
		Name: "integrity", Asks: "will the next respawn work", Every: 5 * time.Minute, RunAtLoad: true,
		Why: "a reboot is when a rebuilt, deleted or ad-hoc signed binary first bites. Its checks read the binary, its signature and the metallib on disk, not the server, so they are valid at once.",
	},
	{
		Name: "parity-smoke", Asks: "did answer quality silently regress", At: &TimeOfDay{Hour: 3}, Network: true, OnServerChange: true,
		Why: "ten prompts at login would load the GPU while the primary is still loading its weights, and the nightly run (run on wake when the machine slept through it) covers every night.",
	},
	{
		Name: "pace", Asks: "is it as fast as usual", Every: 15 * time.Minute, Network: true,
		Why: "at login or boot the primary is still loading its weights, so a speed sample at load measures the boot, not the service, and would teach the baseline a slow start.",
	},
	{
		Name: "context", Asks: "is its context window what we think it is", At: &TimeOfDay{Hour: 3, Minute: 30}, Network: true, OnServerChange: true,
		Why: "its tick is one long prefill (most of the context window); at login it would load the GPU while the primary is still loading its weights. The nightly run (run on wake when the machine slept through it), half an hour after parity-smoke so the two never share the GPU, covers every night, and drift starts it at once when the server changes.",
	},
}

// Lookup returns the probe called name.
func Lookup(name string) (Probe, bool) {
	for _, p := range Probes {
		if p.Name == name {
			return p, true
		}
	}
	return Probe{}, false
}

// OnServerChange are the probes drift starts when the server changes.
func OnServerChange(probes []Probe) []Probe {
	var out []Probe
	for _, p := range probes {
		if p.OnServerChange {
			out = append(out, p)
		}
	}
	return out
}

// Names are the probes' names, in install order.
func Names(probes []Probe) []string {
	out := make([]string, len(probes))
	for i, p := range probes {
		out[i] = p.Name
	}
	return out
}
