package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/state"
	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// Every time a probe keeps between ticks, and what a copy of it dated
// after now does: the one list docs/RELIABILITY.md prints ("Every time a
// probe keeps"), checked here against the doc, against the state files the
// cells leave behind (a time in a state file that no row names fails), and
// shown by a cell of the matrix or a named test. A time a probe stored was
// now when it was written; after now it means a clock stepped back (or an
// edited file). A "since" is taken as now, a history's future entries are
// dropped, and both are logged as clock_skew.

// year2031 is "after now" in every cell.
var year2031 = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

// persistedTime is one row of the list.
type persistedTime struct {
	whose string // "every probe", "guardian", ...
	name  string // as the doc names it
	// paths are the time's JSON paths in the probe's state file ("*" is
	// any one key or index); none for a time kept in another file.
	paths []string
	// fault is the matrix cell that shows it (built by cell, or registered
	// elsewhere when cell is nil); test names a test that does instead.
	fault, test string
	probe       string // the cell's probe
	cell        func() cell
}

// persistedTimes is the list, built in init: its cells check the state
// against the list itself.
var persistedTimes []persistedTime

func listPersistedTimes() []persistedTime {
	return []persistedTime{
		{whose: "every probe", name: "channels.*.since, last_alert, last_ok",
			paths: []string{"channels.*.since", "channels.*.last_alert", "channels.*.last_ok"},
			fault: "channel times in 2031", probe: "canary", cell: channelTimesCell},
		{whose: "every probe", name: "last_tick", paths: []string{"last_tick"},
			test: "drift TestStaleFinding, guardian TestReadHangEvidence, status TestExitCodePolicy (read by the others; never by the probe itself)"},
		{whose: "every probe", name: "outbox entries.*.queued",
			fault: "outbox entry queued in 2031", probe: "guardian", cell: outboxQueuedCell},
		{whose: "network probes", name: "council-backend.json detected_at",
			test: "pkg/server/backend TestResolveRedetectsADetectionFromTheFuture"},
		{whose: "guardian", name: "data.restart_history", paths: []string{"data.restart_history.*"},
			fault: fFutureHistory, probe: "guardian"},
		{whose: "guardian", name: "data.last_restart", paths: []string{"data.last_restart"},
			fault: "last_restart in 2031", probe: "guardian", cell: lastRestartCell},
		{whose: "guardian", name: "data.backend_loading", paths: []string{"data.backend_loading"},
			fault: "backend_loading in 2031", probe: "guardian", cell: backendLoadingCell},
		{whose: "guardian", name: "data.wedged_busy_since", paths: []string{"data.wedged_busy_since"},
			fault: "wedged_busy_since in 2031", probe: "guardian", cell: busySinceCell},
		{whose: "guardian", name: "data.crash_history", paths: []string{"data.crash_history.*"},
			fault: "crash_history in 2031", probe: "guardian", cell: crashHistoryCell},
		{whose: "guardian", name: "data.service_seen.at, process.started",
			paths: []string{"data.service_seen.at", "data.service_seen.process.started"},
			fault: fSeenFuture, probe: "guardian"},
		{whose: "guardian, integrity", name: "fallback lock when",
			test: "none: shown to the operator (council-status, restore-primary), never decided on"},
		{whose: "drift", name: "data.server_identity.models.*.seen_at", paths: []string{"data.server_identity.models.*.seen_at"},
			test: "drift TestServerIdentitySeenInTheFuture"},
		{whose: "drift, integrity", name: "hash cache last_full_pass",
			test: "pkg/host/hashcache TestFullPassWhenTheLastIsInTheFuture"},
		{whose: "pace", name: "data.identity.changes", paths: []string{"data.identity.changes.*"},
			fault: "identity changes in 2031", probe: "pace", cell: identityChangesCell},
		{whose: "context", name: "data.context.log.at", paths: []string{"data.context.log.at"},
			fault: "log cursor in 2031", probe: "context", cell: logCursorCell},
	}
}

func init() {
	persistedTimes = listPersistedTimes()
	byProbe := map[string][]func() cell{}
	faults := map[string][]string{}
	for _, p := range persistedTimes {
		if p.cell != nil {
			byProbe[p.probe] = append(byProbe[p.probe], p.cell)
			faults[p.probe] = append(faults[p.probe], p.fault)
		}
	}
	for _, probe := range slices.Sorted(func(yield func(string) bool) {
		for k := range byProbe {
			if !yield(k) {
				return
			}
		}
	}) {
		cells := byProbe[probe]
		register(probe, faults[probe], func() []cell {
			out := make([]cell, len(cells))
			for i, c := range cells {
				out[i] = c()
			}
			return out
		})
	}
}

// plantState writes into a probe's state file (a fresh one if none).
func (w *world) plantState(probe string, mutate func(*state.File)) {
	w.t.Helper()
	path := w.home.StateFile(probe)
	st, err := state.Load(path, probe)
	if err != nil {
		w.t.Fatal(err)
	}
	mutate(st)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := st.Save(path); err != nil {
		w.t.Fatal(err)
	}
}

func put(t *testing.T, st *state.File, key string, v any) {
	t.Helper()
	if err := st.Put(key, v); err != nil {
		t.Fatal(err)
	}
}

// skewed asserts the probe logged clock_skew for key (a prefix) and that
// no time in its state file lies in the future or goes unlisted.
func skewed(t *testing.T, w *world, key string) {
	t.Helper()
	found := false
	for _, ev := range probetest.Find(w.events(), "clock_skew", "") {
		if k, _ := ev["key"].(string); strings.HasPrefix(k, key) {
			found = true
		}
	}
	if !found {
		t.Errorf("no clock_skew for %s:\n%s", key, dumpEvents(w.events()))
	}
	timesListedAndPast(t, w.stateFile())
}

// rfc3339 recognises a time as encoding/json writes one.
var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`)

// timesListedAndPast walks a state file: every time in it must be named
// by a row of persistedTimes, and none may lie after now.
func timesListedAndPast(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, p := range persistedTimes {
		patterns = append(patterns, p.paths...)
	}
	file := filepath.Base(path)
	var walk func(keys []string, v any)
	walk = func(keys []string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(append(slices.Clone(keys), k), c)
			}
		case []any:
			for i, c := range x {
				walk(append(slices.Clone(keys), strconv.Itoa(i)), c)
			}
		case string:
			if !rfc3339.MatchString(x) {
				return
			}
			at := strings.Join(keys, ".")
			if !slices.ContainsFunc(patterns, func(p string) bool { return pathMatch(p, keys) }) {
				t.Errorf("%s keeps a time at %s that the list of persisted times does not name", file, at)
			}
			if ts, err := time.Parse(time.RFC3339Nano, x); err == nil && ts.After(time.Now()) {
				t.Errorf("%s still holds %s = %s, after now", file, at, x)
			}
		}
	}
	walk(nil, doc)
}

// pathMatch matches a dotted pattern ("*" = one key or index) to a path.
func pathMatch(pattern string, path []string) bool {
	ps := strings.Split(pattern, ".")
	if len(ps) != len(path) {
		return false
	}
	for i := range ps {
		if ps[i] != "*" && ps[i] != path[i] {
			return false
		}
	}
	return true
}

// TestPersistedTimesListed: the list in docs/RELIABILITY.md is this table,
// row for row, and every row is shown by a registered cell or a named test.
func TestPersistedTimesListed(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "RELIABILITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n### Every time a probe keeps\n")
	if !ok {
		t.Fatal(`docs/RELIABILITY.md has no "### Every time a probe keeps" section`)
	}
	var inDoc []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		cols := strings.Split(line, "|")
		if len(cols) < 5 || !strings.HasPrefix(strings.TrimSpace(cols[2]), "`") {
			continue
		}
		inDoc = append(inDoc, strings.Trim(strings.TrimSpace(cols[2]), "`"))
	}
	var inTable []string
	for _, p := range persistedTimes {
		inTable = append(inTable, p.name)
		switch {
		case p.fault != "":
			found := false
			for _, c := range extraCellsOf(p.probe) {
				found = found || c.fault == p.fault
			}
			if !found {
				t.Errorf("%s: no %s cell %q in the matrix", p.name, p.probe, p.fault)
			}
		case p.test == "":
			t.Errorf("%s: shown by no cell and no test", p.name)
		}
	}
	if !slices.Equal(inDoc, inTable) {
		t.Errorf("docs/RELIABILITY.md lists\n  %q\nthe table\n  %q", inDoc, inTable)
	}
}

// extraCellsOf is every registered cell of a probe.
func extraCellsOf(probe string) []cell {
	var out []cell
	for _, more := range extraCells[probe] {
		out = append(out, more()...)
	}
	return out
}

// --- the cells ---------------------------------------------------------------

// channelTimesCell: the canary's wrong_answer channel started and last
// alerted "in 2031", firing. Its cooldown now ends 30 minutes from now
// (nothing is re-sent this tick), not in 2031.
func channelTimesCell() cell {
	return cell{fault: "channel times in 2031", sim: fault(councilsim.FaultWrong),
		setup: func(t *testing.T, w *world) {
			w.plantState("canary", func(st *state.File) {
				st.Channels["wrong_answer"] = &alert.Channel{Consecutive: 2, Firing: true, Severity: alert.Error, LastSeverity: alert.Error,
					Summary: "answered 5", Since: year2031, LastAlert: year2031, LastOK: year2031}
			})
		},
		want: want{code: 2, event: "clock_skew", alert: noAlert, then: func(t *testing.T, w *world) {
			skewed(t, w, "channels.wrong_answer.")
		}},
		note: "a channel started and last alerted in 2031: taken as now (clock_skew), so its cooldown ends 30 min from now, not in 2031"}
}

// outboxQueuedCell: a notice spooled "in 2031" is delivered, and its age
// is not negative.
func outboxQueuedCell() cell {
	return cell{fault: "outbox entry queued in 2031",
		setup: func(t *testing.T, w *world) {
			ob := alert.NewOutbox(w.outboxFile(), 100)
			ob.Add("forceflow", alert.Notice{Probe: "guardian", Check: "unreachable", Severity: alert.Error,
				Title: "council-guardian: unreachable", Message: "spooled before the clock stepped back", At: time.Now(), StartsAt: time.Now()},
				year2031, "refused")
			if err := ob.Save(); err != nil {
				t.Fatal(err)
			}
		},
		want: want{code: 0, event: "clock_skew", alert: delivered, alertCheck: "unreachable", then: func(t *testing.T, w *world) {
			skewed(t, w, "outbox.queued")
		}},
		note: "a notice queued in 2031 is delivered; its age is taken from now (clock_skew)"}
}

// lastRestartCell: a last restart "in 2031" made every canary tick predate
// it, so the wedged check never judged again. Taken as now, the next
// canary tick is evidence.
func lastRestartCell() cell {
	return cell{fault: "last_restart in 2031",
		setup: func(t *testing.T, w *world) {
			p := w.loadPrimarySim(false)
			w.primaryFault(p, "wedge")
			w.canaryHang(2, time.Now())
			w.plantState("guardian", func(st *state.File) { put(t, st, "last_restart", year2031) })
		},
		want: want{code: 0, event: "wedged_no_evidence", check: "wedged", alert: noAlert, then: func(t *testing.T, w *world) {
			skewed(t, w, "last_restart")
			time.Sleep(10 * time.Millisecond)
			w.canaryHang(2, time.Now()) // the canary runs again, after the restart taken as now
			w.tick()
			if len(probetest.Find(w.events(), "wedged", "wedged")) != 1 || !hasCall(w.ld.Calls(), "kickstart -k") {
				t.Errorf("the canary's next word was not taken: no wedged restart\n%s", dumpEvents(w.events()))
			}
		}},
		note: "a last restart in 2031 is taken as now: the canary's next tick is evidence again, and a wedged primary is restarted"}
}

// backendLoadingCell: llama-server loading "since 2031" was loading for
// -4217h and never passed --max-loading. Taken as now, it passes it.
func backendLoadingCell() cell {
	return cell{fault: "backend_loading in 2031", sim: personality(councilsim.PersonalityLlamaServer, councilsim.BackendFaultLoading),
		args: []string{"--max-loading", "1s"},
		setup: func(t *testing.T, w *world) {
			w.plantState("guardian", func(st *state.File) { put(t, st, "backend_loading", year2031) })
		},
		want: want{code: 0, event: "server_loading", check: "unreachable", alert: noAlert, then: func(t *testing.T, w *world) {
			skewed(t, w, "backend_loading")
			time.Sleep(1500 * time.Millisecond) // past --max-loading
			w.tick()
			failed := false
			for _, ev := range probetest.Find(w.events(), "probe_fail", "unreachable") {
				failed = failed || ev["reason"] == "loading_too_long"
			}
			if !failed {
				t.Errorf("still loading past --max-loading:\n%s", dumpEvents(w.events()))
			}
		}},
		note: "a server loading since 2031 is loading since now (clock_skew), and fails past --max-loading"}
}

// busySinceCell: a primary busy "since 2031" was busy for 0 ms forever, so
// --max-busy never fired. Taken as now, it fires.
func busySinceCell() cell {
	return cell{fault: "wedged_busy_since in 2031", args: []string{"--max-busy", "2s"},
		setup: func(t *testing.T, w *world) {
			p := w.loadPrimarySim(false)
			w.primaryFault(p, "busy")
			w.canaryHang(2, time.Now())
			w.plantState("guardian", func(st *state.File) { put(t, st, "wedged_busy_since", year2031) })
		},
		want: want{code: 0, event: "probe_skip_busy", check: "wedged", alert: noAlert, then: func(t *testing.T, w *world) {
			skewed(t, w, "wedged_busy_since")
			time.Sleep(2500 * time.Millisecond) // past --max-busy
			w.canaryHang(3, time.Now())
			w.tick()
			runaway := false
			for _, ev := range probetest.Find(w.events(), "wedged", "wedged") {
				runaway = runaway || ev["reason"] == "runaway"
			}
			if !runaway || !hasCall(w.ld.Calls(), "kickstart -k") {
				t.Errorf("busy past --max-busy was not restarted as a runaway: %q\n%s", w.ld.Calls(), dumpEvents(w.events()))
			}
		}},
		note: "busy since 2031 is busy since now (clock_skew): --max-busy fires, a runaway is restarted"}
}

// crashHistoryCell: crashes dated 2031 are no crashes in the last 30
// minutes: dropped, logged, no crash loop.
func crashHistoryCell() cell {
	return cell{fault: "crash_history in 2031",
		setup: func(t *testing.T, w *world) {
			w.loadPrimarySim(true)
			w.plantState("guardian", func(st *state.File) {
				put(t, st, "crash_history", []time.Time{year2031, year2031.Add(time.Minute), year2031.Add(2 * time.Minute)})
			})
		},
		want: want{code: 0, event: "clock_skew", alert: noAlert, then: func(t *testing.T, w *world) {
			skewed(t, w, "crash_history")
			if ev := probetest.Find(w.events(), "crashed", "crashed"); len(ev) != 0 {
				t.Errorf("crashes dated 2031 counted: %v", ev)
			}
		}},
		note: "crashes dated 2031 are dropped (clock_skew): no crash loop"}
}

// identityChangesCell: four identity changes "in 2031" are not changes in
// the last 24 h: no identity_unstable on a server that never changed.
func identityChangesCell() cell {
	return cell{fault: "identity changes in 2031",
		setup: func(t *testing.T, w *world) {
			w.plantState("pace", func(st *state.File) {
				put(t, st, "identity", map[string]any{"model": councilsim.DefaultModel,
					"changes": []time.Time{year2031, year2031, year2031, year2031}})
			})
		},
		want: want{code: 0, event: "clock_skew", alert: noAlert, then: func(t *testing.T, w *world) {
			skewed(t, w, "identity.changes")
			if ev := probetest.Find(w.events(), "identity_unstable", ""); len(ev) != 0 {
				t.Errorf("changes dated 2031 made a steady server unstable: %v", ev)
			}
		}},
		note: "identity changes dated 2031 are dropped (clock_skew): a steady server is not unstable"}
}

// logCursorCell: context's server-log cursor taken "in 2031" is taken as
// taken now: the pressure report's "since" is never in the future.
func logCursorCell() cell {
	return cell{fault: "log cursor in 2031",
		setup: func(t *testing.T, w *world) {
			log := filepath.Join(w.home.Dir, "server.log")
			if err := os.WriteFile(log, []byte("2026-12-01T00:00:00.000Z INFO started\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			w.args = append(w.args, "--server-log", log)
			w.plantState("context", func(st *state.File) {
				put(t, st, "context", map[string]any{"log": map[string]any{"path": log, "offset": 0, "at": year2031}})
			})
		},
		want: want{code: 0, event: "clock_skew", alert: noAlert, then: func(t *testing.T, w *world) {
			skewed(t, w, "context.log.at")
		}},
		note: "a log cursor taken in 2031 is taken as now (clock_skew)"}
}
