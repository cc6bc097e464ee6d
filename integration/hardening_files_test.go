package integration

// Hardening: the probe's own files (lock, state, log, temp files) and its
// configuration. A fault on our side (a bad URL, a bad label, a token with a
// BOM, a state that cannot be saved) is UNKNOWN (exit 3) and alerts; it never
// restarts a healthy server. No open or read of a probe's own file may block
// or follow a symlink.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fifokit "github.com/sanctum/council-probes/pkg/testkit/fifo"

	"github.com/sanctum/council-probes/pkg/testkit/councilsim"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

const (
	fMTLSHTTP       = "mTLS URL is plain http"
	fMTLSNoScheme   = "mTLS URL without a scheme"
	fTokenBOM       = "token starts with a UTF-8 BOM"
	fTokenCtl       = "token holds a control byte"
	fFFURLNoScheme  = "Force Flow URL without a scheme"
	fFallbackURLBad = "fallback URL without a scheme"
	fLockSymlink    = "lock file is a symlink"
	fStateSymlink   = "state file is a symlink"
	fStateDiskFull  = "disk full (state)"
	fStateReadOnly  = "state dir read-only"
	fLogDir         = "log path is a directory"
	fLogFIFO        = "log file is a FIFO"
	fLogSymlink     = "log file is a symlink"
	fStateFIFO      = "state file is a FIFO"
	fStateHuge      = "state file 300 MB (sparse)"
	fStaleTmp       = "stale temp files (SIGKILL mid-save)"
	fBadLabel       = "invalid primary label"
)

func init() {
	register("guardian", []string{
		fMTLSHTTP, fMTLSNoScheme, fTokenBOM, fTokenCtl, fFFURLNoScheme, fFallbackURLBad,
		fLockSymlink, fStateSymlink, fStateDiskFull, fStateReadOnly,
		fLogDir, fLogFIFO, fLogSymlink, fStateFIFO, fStateHuge, fStaleTmp, fBadLabel,
	}, guardianFileCells)
	register("canary", []string{fMTLSHTTP}, func() []cell { return []cell{mtlsHTTPCell("canary")} })
	register("integrity", []string{fBadLabel}, func() []cell { return []cell{badLabelCell()} })
	register("drift", []string{fLockSymlink, fBadLabel}, func() []cell { return []cell{lockSymlinkCell(), badLabelCell()} })
}

// noRestart asserts that the guardian never touched launchd: a fault on our
// side must not restart a healthy server.
func noRestart(t *testing.T, w *world) {
	t.Helper()
	if calls := w.ld.MutatingCalls(); len(calls) != 0 {
		t.Errorf("a configuration fault changed launchd: %q", calls)
	}
}

// configFault is a configuration fault on the transport: exit 3 at once,
// one transport alert, and three ticks never restart anything.
func configFault(check string) want {
	return want{code: 3, event: check + "_error", check: check, alert: delivered, then: noRestart}
}

func mtlsHTTPCell(client string) cell {
	return cell{fault: fMTLSHTTP, home: func(h *probetest.Home) { h.WithCerts(client) },
		setup: func(t *testing.T, w *world) {
			// The plain listener answers over http: an "mTLS" tick there
			// would carry no client certificate at all.
			w.args = append(w.args, "--mtls-url", w.sim.PlainURL(), "--require-mtls")
		},
		want: want{code: 3, event: "transport_error", check: "transport", alert: delivered},
		note: "an mTLS URL must be https: anything else is a configuration error, not a tick without a client certificate",
	}
}

func lockSymlinkCell() cell {
	return cell{fault: fLockSymlink,
		setup: func(t *testing.T, w *world) {
			target := filepath.Join(w.home.Dir, "elsewhere", "created-by-the-lock")
			if err := os.Symlink(target, w.lockFile()); err != nil {
				t.Fatal(err)
			}
		},
		want: want{code: 3, stderr: "symlink", event: "state_error", check: "state", alert: delivered, then: func(t *testing.T, w *world) {
			if _, err := os.Lstat(filepath.Join(w.home.Dir, "elsewhere")); err == nil {
				t.Errorf("the lock followed its symlink and created the target's directory")
			}
		}},
		note: "the lock is opened with O_NOFOLLOW: exit 3 with a clear error and a state alert sent directly; the link's target is never created",
	}
}

func badLabelCell() cell {
	return cell{fault: fBadLabel, args: []string{"--primary-label", "com.sanctum mlx"},
		want: want{code: 3, event: "config_error", check: "config", alert: delivered},
		note: "labels are validated at startup (exit 3), not when a restart is finally needed",
	}
}

func guardianFileCells() []cell {
	certs := func(h *probetest.Home) { h.WithCerts("guardian") }
	writeToken := func(content string) func(t *testing.T, w *world) {
		return func(t *testing.T, w *world) {
			if err := os.WriteFile(w.home.TokenFile(), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	down := func(t *testing.T, w *world) {
		if err := w.sim.SetFault(councilsim.FaultDown); err != nil {
			t.Fatal(err)
		}
	}
	return []cell{
		mtlsHTTPCell("guardian"),
		{fault: fMTLSNoScheme, home: certs, ticks: 3,
			setup: func(t *testing.T, w *world) {
				w.args = append(w.args, "--mtls-url", strings.TrimPrefix(w.sim.MTLSURL(), "https://"))
			},
			want: configFault("transport"),
			note: "a URL without a scheme is a configuration fault: UNKNOWN, one transport alert, never a restart"},
		{fault: fTokenBOM, ticks: 3, setup: writeToken("\ufeff" + probetest.PlantedToken + "\n"),
			want: configFault("transport"),
			note: "the token file is refused (the token never printed): UNKNOWN, one transport alert, never a restart"},
		{fault: fTokenCtl, ticks: 3, setup: writeToken(probetest.PlantedToken + "\x01\n"),
			want: configFault("transport")},
		{fault: fFFURLNoScheme,
			setup: func(t *testing.T, w *world) {
				w.args = append(w.args, "--force-flow-url", strings.TrimPrefix(w.ff.URL(), "http://"))
			},
			want: want{code: 3, event: "config_error", check: "config", alert: noAlert, stderr: "force-flow-url"},
			note: "every URL flag is validated at startup; the alert has nowhere to go, so stderr and the log say it"},
		{fault: fFallbackURLBad, ticks: 3, sim: fault(councilsim.FaultDown), args: []string{"--fallback-url", "127.0.0.1:1337"},
			want: want{code: 3, event: "config_error", check: "config", alert: delivered, then: noRestart}},
		lockSymlinkCell(),
		{fault: fStateSymlink,
			setup: func(t *testing.T, w *world) {
				target := filepath.Join(w.home.Dir, "elsewhere", "state.json")
				os.MkdirAll(filepath.Dir(target), 0o700)
				if err := os.WriteFile(target, []byte(`{"version":1,"probe":"guardian","channels":{}}`), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, w.stateFile()); err != nil {
					t.Fatal(err)
				}
			},
			want: want{code: 3, event: "state_error", check: "state", alert: delivered,
				then: func(t *testing.T, w *world) {
					if fi, err := os.Lstat(w.stateFile()); err != nil || fi.Mode()&os.ModeSymlink == 0 {
						t.Errorf("the state symlink was replaced or removed (%v)", err)
					}
				}},
			note: "refused with a clear error, left as it is for the operator; exit 3 and a state alert"},
		{fault: fStateDiskFull,
			setup: func(t *testing.T, w *world) {
				// A valid state the probe must write back, bigger than the
				// file-size limit the tick runs under: its save fails with
				// EFBIG the way it fails with ENOSPC on a full disk, for
				// root too, while the log and the alert still work.
				pad, _ := json.Marshal(strings.Repeat("x", 256<<10))
				st := `{"version":1,"probe":"guardian","channels":{},"data":{"pad":` + string(pad) + `}}`
				if err := os.WriteFile(w.stateFile(), []byte(st), 0o600); err != nil {
					t.Fatal(err)
				}
				w.wrap = []string{lookPath(t, "sh"), "-c", `ulimit -f 64 && exec "$0" "$@"`}
			},
			want: want{code: 3, event: "state_error", check: "state", alert: delivered},
			note: "a state that cannot be saved is a failure of its own: exit 3 and a state alert sent directly (not via the outbox)"},
		{fault: fStateReadOnly, ticks: 3,
			setup: func(t *testing.T, w *world) {
				w.tick() // a healthy tick lays out the lock and the state
				readOnlyDir(t, w.home.StateDir)
				down(t, w)
			},
			want: want{code: 3, event: "state_error", check: "state", alert: delivered, then: noRestart},
			note: "the failure count cannot be saved, so escalation cannot proceed: exit 3 and a state alert every tick instead of a silent '1 in a row'"},
		{fault: fLogDir, ticks: 3, sim: fault(councilsim.FaultDown),
			setup: func(t *testing.T, w *world) {
				if err := os.MkdirAll(w.logFile(), 0o700); err != nil {
					t.Fatal(err)
				}
			},
			want: want{code: 2, alert: delivered, alertCheck: "unreachable", stderr: `"event":"restarting"`, then: restartCalled},
			note: "the checks, the restart and the alerts still run; the events go to stderr"},
		{fault: fLogFIFO,
			setup: func(t *testing.T, w *world) { fifokit.Make(t, w.logFile()) },
			last:  func(w *world) probetest.Result { defer os.Remove(w.logFile()); return w.tick() },
			want:  want{code: 0, stderr: `"event":"probe_ok"`},
			note:  "opened without blocking and refused (not a regular file); the events go to stderr"},
		{fault: fLogSymlink,
			setup: func(t *testing.T, w *world) {
				if err := os.Symlink(filepath.Join(w.home.Dir, "elsewhere", "council.log"), w.logFile()); err != nil {
					t.Fatal(err)
				}
				os.MkdirAll(filepath.Join(w.home.Dir, "elsewhere"), 0o700)
			},
			want: want{code: 0, stderr: `"event":"probe_ok"`, then: func(t *testing.T, w *world) {
				if _, err := os.Lstat(filepath.Join(w.home.Dir, "elsewhere", "council.log")); err == nil {
					t.Errorf("the log was written through its symlink")
				}
			}},
			note: "refused (O_NOFOLLOW), the link's target is never created; the events go to stderr"},
		{fault: fStateFIFO,
			setup: func(t *testing.T, w *world) { fifokit.Make(t, w.stateFile()) },
			last:  func(w *world) probetest.Result { defer os.Remove(w.stateFile()); return w.tick() },
			want:  want{code: 3, event: "state_error", check: "state", alert: delivered},
			note:  "opened without blocking and refused: exit 3 and a state alert, where the tick used to hang forever"},
		stateHugeCell(),
		{fault: fStaleTmp,
			setup: func(t *testing.T, w *world) {
				old := time.Now().Add(-time.Hour)
				for _, name := range []string{".council-guardian.json.tmp-111", ".council-guardian.json.tmp-222",
					".council-canary.json.tmp-333", ".council-guardian.outbox.json.tmp-444", "council-guardian.json.tmp-555"} {
					p := filepath.Join(w.home.StateDir, name)
					if err := os.WriteFile(p, []byte("half a save"), 0o600); err != nil {
						t.Fatal(err)
					}
					if !strings.HasSuffix(name, "222") {
						os.Chtimes(p, old, old)
					}
				}
			},
			want: want{code: 0, event: "probe_ok", check: "unreachable", then: func(t *testing.T, w *world) {
				for name, keep := range map[string]bool{
					".council-guardian.json.tmp-111": false, ".council-guardian.outbox.json.tmp-444": false,
					".council-guardian.json.tmp-222": true, // recent: a save may be in flight
					".council-canary.json.tmp-333":   true, // another probe's
					"council-guardian.json.tmp-555":  true, // not a temp name atomicfile makes
				} {
					_, err := os.Stat(filepath.Join(w.home.StateDir, name))
					if kept := err == nil; kept != keep {
						t.Errorf("%s: kept=%v, want kept=%v", name, kept, keep)
					}
				}
			}},
			note: "the probe's own temp files older than 10 minutes are removed; recent ones and other probes' are kept"},
		badLabelCell(),
	}
}

func restartCalled(t *testing.T, w *world) {
	if !hasCall(w.ld.Calls(), "kickstart -k") {
		t.Errorf("no kickstart -k among the launchctl calls %q", w.ld.Calls())
	}
}

// readOnlyDir makes dir refuse new files for the rest of the cell: mode
// 0500, or for root (who ignores modes) the immutable attribute.
func readOnlyDir(t *testing.T, dir string) {
	t.Helper()
	if os.Getuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return
	}
	chattr := lookPath(t, "chattr")
	if out, err := exec.Command(chattr, "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("running as root and chattr +i failed (%v: %s): no way to make a directory read-only for root here", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command(chattr, "-i", dir).Run() })
}

// stateHugeCell: a 300 MB state file (sparse: no disk cost) is corrupt by
// its size alone; the probe must not read it (it used to cost 1.5 GB RSS).
func stateHugeCell() cell {
	var maxRSS int64
	var corruptSize int64 = -1
	return cell{fault: fStateHuge,
		setup: func(t *testing.T, w *world) {
			f, err := os.Create(w.stateFile())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(300 << 20); err != nil {
				t.Skipf("no sparse files here: %v", err)
			}
		},
		last: func(w *world) probetest.Result {
			res, rss := w.tickPeakRSS()
			maxRSS = rss
			if fi, err := os.Stat(w.stateFile() + ".corrupt"); err == nil {
				corruptSize = fi.Size()
			}
			os.Remove(w.stateFile() + ".corrupt") // 300 MB the leak check need not read
			return res
		},
		want: want{code: 0, event: "state_reset", then: func(t *testing.T, w *world) {
			if corruptSize != 300<<20 {
				t.Errorf("the oversized state was not kept as .corrupt (size %d)", corruptSize)
			}
			// A memory bound, not a timing: reading the file at all
			// costs more than 300 MB; a tick is about 20 MB.
			if maxRSS > 100<<20 {
				t.Errorf("peak RSS %d MiB: the oversized state file was read", maxRSS>>20)
			}
		}},
		note: "over the 4 MiB cap it is kept as .corrupt and reset unread (peak RSS bounded)",
	}
}

// tickPeakRSS runs one tick like tick, through the launcher, and also
// returns its peak RSS in bytes. The launcher is what makes the figure the
// probe's: Go starts children with vfork, and exec carries the parent's
// high-water mark into the child's ru_maxrss, so measured directly a tick
// reads at least as large as this test process (many parallel cells, their
// simulators) and the cell failed when that passed 100 MiB. The launcher
// discards the probe's stdout (the status line); stderr is kept.
func (w *world) tickPeakRSS() (probetest.Result, int64) {
	w.t.Helper()
	argv := w.argv()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, launcherBin, argv...)
	cmd.Env = w.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		w.t.Fatalf("the tick did not finish within %s\nstderr: %s", runTimeout, errb.String())
	}
	var rss int64
	var code int
	if _, serr := fmt.Sscanf(out.String(), "maxrss=%d exit=%d", &rss, &code); err != nil || serr != nil {
		w.t.Fatalf("launcher: %v %v: %q %s", err, serr, out.String(), errb.String())
	}
	res := probetest.Result{Code: code, Stderr: errb.String()}
	w.outs = append(w.outs, res.Stderr)
	return res, rss
}
