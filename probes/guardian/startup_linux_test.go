package guardian

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
			got, err := processStart(tt.pid)
			if err != nil {
				t.Fatal(err)
			}
			if got.Before(tt.after) || got.After(tt.before) {
				t.Fatalf("start %v not within [%v, %v]", got, tt.after, tt.before)
			}
		})
	}
	if _, err := processStart(1 << 30); !errors.Is(err, errNoStartTime) {
		t.Fatalf("no such pid: %v", err)
	}
}
