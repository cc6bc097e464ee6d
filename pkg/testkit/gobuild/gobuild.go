// Package gobuild compiles a test's helper binaries (the fake launchctl,
// the simulated systemd's commands) once, from a TestMain. It imports
// nothing of the project, so any package's tests can use it, the
// simulators' own included.
package gobuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles the Go package pkg (an import path or ./dir) into
// dir/name and returns the binary's path; a failed build's error carries
// the compiler's output.
func Build(dir, pkg, name string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = os.Environ()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// The packages of the simulators' commands.
const (
	FakeLaunchctlPkg  = "github.com/sanctum/council-probes/pkg/testkit/launchdsim/cmd/fake-launchctl"
	FakeSystemctlPkg  = "github.com/sanctum/council-probes/pkg/testkit/systemdsim/cmd/fake-systemctl"
	FakeJournalctlPkg = "github.com/sanctum/council-probes/pkg/testkit/systemdsim/cmd/fake-journalctl"
)

// FakeLaunchctl compiles the fake launchctl into dir and returns its path.
func FakeLaunchctl(dir string) (string, error) {
	return Build(dir, FakeLaunchctlPkg, "fake-launchctl")
}

// FakeSystemd compiles the simulated systemd's fake-systemctl and
// fake-journalctl into dir and returns their paths.
func FakeSystemd(dir string) (systemctl, journalctl string, err error) {
	if systemctl, err = Build(dir, FakeSystemctlPkg, "fake-systemctl"); err != nil {
		return "", "", err
	}
	journalctl, err = Build(dir, FakeJournalctlPkg, "fake-journalctl")
	return systemctl, journalctl, err
}
