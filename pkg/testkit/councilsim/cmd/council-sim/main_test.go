package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for council-sim: with
// COUNCIL_SIM_BE_MAIN=1 it runs main() on its arguments instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("COUNCIL_SIM_BE_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestSIGTERM runs the real main in a child process and checks it serves,
// then exits 0 and removes its pid file on SIGTERM.
func TestSIGTERM(t *testing.T) {
	pidFile := t.TempDir() + "/sim.pid"
	cmd := exec.Command(os.Args[0], "--listen", "127.0.0.1:0", "--pid-file", pidFile)
	cmd.Env = append(os.Environ(), "COUNCIL_SIM_BE_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) // no-op once it has exited

	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
	}()
	var url string
	select {
	case l := <-line:
		var ok bool
		if url, ok = strings.CutPrefix(l, "COUNCIL_URL="); !ok {
			t.Fatalf("first stdout line %q, want COUNCIL_URL=...", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("council-sim printed no URL")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("x-council-simulator") != "true" {
		t.Errorf("status %d, simulator header %q", resp.StatusCode, resp.Header.Get("x-council-simulator"))
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("council-sim did not exit on SIGTERM")
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file after exit: %v", err)
	}
}
