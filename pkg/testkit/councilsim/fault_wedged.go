package councilsim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// The faults of a server that is wedged, busy or crashing. They matter to
// a probe that looks at the process as well as its answers (its CPU, how
// launchd saw it end), so they are meant for a simulator run as a
// separate process, e.g. as the primary program under the fake launchd.
const (
	// FaultWedge is the deadlocked server: connections are accepted and
	// /v1/models answers 200 at once, but chat never answers, and the
	// process burns no CPU while it waits.
	FaultWedge Fault = "wedge"
	// FaultBusy is a server working through a long job: it keeps one core
	// busy for as long as the fault lasts, and answers chat only after
	// SlowDelay.
	FaultBusy Fault = "busy"
	// FaultCrash makes the next chat request crash the process: it writes
	// CrashLine to its access log (the server's log) and stderr, then dies
	// of CrashSignal, as a server killed by a GPU fault does.
	FaultCrash Fault = "crash"
)

func init() { Faults = append(Faults, FaultWedge, FaultBusy, FaultCrash) }

// Crash defaults: the Metal out-of-memory abort operators of Apple silicon
// servers report, and SIGSEGV.
const (
	DefaultCrashSignal = "SEGV"
	DefaultCrashLine   = "[METAL] Command buffer execution failed: Insufficient Memory (00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)"
)

// crashSignals are the signals --crash-signal accepts, by name.
var crashSignals = map[string]syscall.Signal{
	"SEGV": syscall.SIGSEGV, "BUS": syscall.SIGBUS, "ABRT": syscall.SIGABRT,
	"KILL": syscall.SIGKILL, "ILL": syscall.SIGILL, "FPE": syscall.SIGFPE, "TERM": syscall.SIGTERM,
}

// ParseCrashSignal reads a signal name (SEGV, SIGSEGV) or number.
func ParseCrashSignal(s string) (syscall.Signal, error) {
	name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if sig, ok := crashSignals[name]; ok {
		return sig, nil
	}
	if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	return 0, fmt.Errorf("unknown crash signal %q (want SEGV, BUS, ABRT, KILL, ILL, FPE, TERM or a number)", s)
}

// processFault applies the process faults to one chat request; it reports
// whether the request should go on to be answered.
func (s *Sim) processFault(ctx context.Context, fault Fault, delay time.Duration) bool {
	switch fault {
	case FaultWedge:
		// Blocked on nothing that will ever come, as a deadlocked server
		// is: no spinning, so its CPU stays idle.
		s.hang(ctx)
		return false
	case FaultBusy:
		return s.sleep(ctx, delay)
	case FaultCrash:
		s.crash()
		return false
	}
	return true
}

// burnWhileBusy keeps one core busy while the fault is FaultBusy, until
// the simulator closes. Between busy spells it checks the fault ten times
// a second, which costs next to nothing: an idle simulator stays idle.
// With a Runner the work is the runner process's: the simulator only
// tells it when to work, as `ollama serve` hands generation to its child
// `ollama runner`, and stays idle itself.
func (s *Sim) burnWhileBusy() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	told := false
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		if s.cfg.Runner != nil {
			if busy := s.Fault() == FaultBusy; busy != told {
				told = busy
				word := "idle\n"
				if busy {
					word = "busy\n"
				}
				if _, err := io.WriteString(s.cfg.Runner, word); err != nil {
					s.log.Warn("tell the runner", "err", err)
				}
			}
			continue
		}
		for s.Fault() == FaultBusy {
			select {
			case <-s.done:
				return
			default:
			}
			spin(20 * time.Millisecond)
		}
	}
}

// RunRunner is the runner process's loop: it reads "busy" and "idle"
// lines from in and keeps one core busy between a "busy" and the next
// "idle". It returns when in ends (the simulator closed the pipe or died).
func RunRunner(in io.Reader) {
	var busy atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			busy.Store(strings.TrimSpace(sc.Text()) == "busy")
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		if busy.Load() {
			spin(20 * time.Millisecond)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// spin burns the CPU for d.
func spin(d time.Duration) {
	x := uint64(1)
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 10000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	spinSink.Store(x)
}

// spinSink keeps the spin loop's result observable, so the work is done.
var spinSink atomic.Uint64

// crash writes the crash line to the server's log and stderr and dies of
// the configured signal. It does not return.
func (s *Sim) crash() {
	line := s.cfg.CrashLine
	if line == "" {
		line = DefaultCrashLine
	}
	sig := s.cfg.CrashSignal
	if sig == 0 {
		sig = syscall.SIGSEGV
	}
	stamped := fmt.Sprintf("%s ERROR %s\n", s.now().UTC().Format(accessLogTimeLayout), line)
	if s.cfg.AccessLog != nil {
		s.logMu.Lock()
		s.cfg.AccessLog.Write([]byte(stamped))
		s.logMu.Unlock()
	}
	s.log.Error("council simulator crashing (fault crash)", "signal", int(sig), "line", line)
	dieOf(sig)
}
