package main

import "time"

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
