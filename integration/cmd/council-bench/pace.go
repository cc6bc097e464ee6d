package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// The pace probe's bars: one tick streams about 512 prompt and 128
// generated tokens; outside the wait for the model, its own work (building
// the prompt, parsing 130 stream events, judging, the state and textfile)
// must stay under paceCPUTarget, and the whole process under paceRSSTarget.
const (
	paceCPUTarget = 20 * time.Millisecond
	paceRSSTarget = 15e6
)

// paceArgs runs a tick at the default prompt and decode sizes against the
// instant simulator, with generous pinned baselines: every tick is judged
// (the whole path, channels and gauges included) and passes, however the
// instant model's microsecond timings jitter.
func paceArgs(e *env) []string {
	return append(common(e), "--url", e.SimURL, "--baseline-ttft", "10s", "--baseline-decode", "0.001",
		"--metrics-dir", e.StateDir)
}

// paceRun is a pace tick measured like a pair, without a shell side
// (nothing shell-sized times a stream and keeps a baseline); its bar is
// paceCPUTarget.
func paceRun(e *env) pair {
	p := pair{Name: "pace tick, 512 + 128 tokens (instant model)", Bench: "Tick/pace",
		NoBase: "no shell equivalent; absolute target", CPUTarget: paceCPUTarget}
	if s, ok := specFor("council-pace"); ok {
		p.Probe, p.Missing = s.command(e)
	}
	return p
}

// selfCPU is what a probe's own tick_done events say it cost (cpu_ms, the
// process's CPU at the end of the tick; startup_cpu_ms, the part spent
// before the tick began): medians over the ticks of one probe in the
// bench's log. It splits the rusage figure into the Go process's start-up
// and the tick's own work, which is what an operator reads on the council
// host.
type selfCPU struct {
	N            int
	Total, Start time.Duration
	Err          string
}

// readSelfCPU reads the tick_done events of probe in the JSON-lines log at
// path.
func readSelfCPU(path, probe string) selfCPU {
	f, err := os.Open(path)
	if err != nil {
		return selfCPU{Err: err.Error()}
	}
	defer f.Close()
	var totals, starts []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev struct {
			Event   string   `json:"event"`
			Probe   string   `json:"probe"`
			CPU     *float64 `json:"cpu_ms"`
			Startup *float64 `json:"startup_cpu_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Event != "tick_done" || ev.Probe != probe || ev.CPU == nil || ev.Startup == nil {
			continue
		}
		totals = append(totals, time.Duration(*ev.CPU*float64(time.Millisecond)))
		starts = append(starts, time.Duration(*ev.Startup*float64(time.Millisecond)))
	}
	if err := sc.Err(); err != nil {
		return selfCPU{Err: err.Error()}
	}
	if len(totals) == 0 {
		return selfCPU{Err: "no tick_done event with cpu_ms in " + path}
	}
	return selfCPU{N: len(totals), Total: median(totals), Start: median(starts)}
}

// note renders the reading as one line under the tick table.
func (s selfCPU) note(name string) string {
	if s.Err != "" {
		return fmt.Sprintf("%s, its own tick_done: unreadable: %s", name, s.Err)
	}
	return fmt.Sprintf("%s, its own tick_done (median of %d, 1 ms resolution): %s of CPU, %s of it before the tick began (Go start-up, init, flags); the tick's own work about %s",
		name, s.N, ms(s.Total), ms(s.Start), ms(s.Total-s.Start))
}
