package service

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestProcessStart(t *testing.T) {
	before := time.Now().Add(-2 * time.Second) // /proc has 10 ms ticks and btime whole seconds
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	tests := []struct {
		name          string
		pid           int
		after, before time.Time
	}{
		{"a child started just now", cmd.Process.Pid, before, time.Now().Add(2 * time.Second)},
		{"this test process, started earlier", os.Getpid(), time.Time{}, time.Now().Add(time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ProcessStart(tt.pid)
			if err != nil {
				t.Fatal(err)
			}
			if got.Before(tt.after) || got.After(tt.before) {
				t.Fatalf("start %v not within [%v, %v]", got, tt.after, tt.before)
			}
		})
	}
	if _, err := ProcessStart(1 << 30); !errors.Is(err, ErrNoStartTime) {
		t.Fatalf("no such pid: %v", err)
	}
}

// A remembered process is still running while its pid lives with the same
// start time; once it exits (a zombie not yet reaped included) or its pid
// belongs to a process started at another time, it is not.
func TestStillRunning(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !p.StillRunning() {
		t.Fatalf("%+v: a live process reads as gone", p)
	}
	reused := p
	reused.Started = p.Started.Add(-time.Hour)
	if reused.StillRunning() {
		t.Errorf("a pid with another start time reads as the same process")
	}
	cmd.Process.Kill()
	// Not reaped yet: a zombie, which is no server.
	deadline := time.Now().Add(5 * time.Second)
	for p.StillRunning() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p.StillRunning() {
		t.Errorf("a killed (zombie) process still reads as running")
	}
	cmd.Wait()
	if p.StillRunning() {
		t.Errorf("a reaped process still reads as running")
	}
	for _, q := range []Process{{}, {PID: os.Getpid()}} {
		if q.StillRunning() {
			t.Errorf("%+v: no pid or no start time must never read as running", q)
		}
	}
}
