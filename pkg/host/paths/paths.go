// Package paths is the council host's file layout: where the probes'
// state, locks, secrets, certificates, logs and service definitions live.
// Every default path of the suite is joined here and nowhere else, so the
// layout is read in one place and a test moves all of it by pointing Home
// at a temporary directory.
//
//	~/.sanctum/council-probes.conf          shared config file
//	~/.sanctum/council-drift.map            drift's map
//	~/.sanctum/state/council-<probe>.json   state (+ .lock, .outbox.json)
//	~/.sanctum/state/council-fallback.lock  exists while the fallback serves
//	~/.sanctum/secrets/council-mlx.token    bearer token (mode 0600)
//	~/.sanctum/certs/ca.crt, clients/<probe>.crt|.key   mTLS
//	~/.openclaw/logs/council-<probe>.log    each probe's JSON-lines log
//	~/.openclaw/logs/sanctum-mlx.log        the primary server's log
//	~/Library/LaunchAgents/                 launchd agents (macOS)
//	~/.config/systemd/user/                 systemd user units (Linux)
//	~/sanctum-rs/                           the server's repository (drift),
//	  target/release/sanctum-mlx            and the primary binary
package paths

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Home is a user's home directory, the root of every default path. The
// empty Home gives each path relative to a home not known yet
// (Home("").LaunchAgents() is "Library/LaunchAgents").
type Home string

// UserHome is $HOME at run time (so a test can point it elsewhere), else
// the OS's idea of the user's home.
func UserHome() Home {
	if h := os.Getenv("HOME"); h != "" {
		return Home(h)
	}
	h, _ := os.UserHomeDir()
	return Home(h)
}

// join is a path under the home. Not inlined: every default path of every
// binary's flags calls it, and each inlined copy builds its slice (the
// binaries are held to size budgets).
//
//go:noinline
func (h Home) join(elem ...string) string {
	return filepath.Join(append([]string{string(h)}, elem...)...)
}

// Sanctum is the suite's own directory, ~/.sanctum.
func (h Home) Sanctum() string { return h.join(".sanctum") }

// ConfigFile is the shared config file.
func (h Home) ConfigFile() string { return h.join(".sanctum", "council-probes.conf") }

// DriftMap is drift's map of deployed files to their committed copies.
func (h Home) DriftMap() string { return h.join(".sanctum", "council-drift.map") }

// StateDir holds each probe's state, lock and outbox, and the shared locks.
func (h Home) StateDir() string { return h.join(".sanctum", "state") }

// TokenFile is the bearer token file.
func (h Home) TokenFile() string { return h.join(".sanctum", "secrets", "council-mlx.token") }

// CACert is the CA certificate of the council's mTLS listener.
func (h Home) CACert() string { return h.join(".sanctum", "certs", "ca.crt") }

// ClientCert and ClientKey are a probe's mTLS client certificate and key.
func (h Home) ClientCert(probe string) string {
	return h.join(".sanctum", "certs", "clients", probe+".crt")
}

// ClientKey: see ClientCert.
func (h Home) ClientKey(probe string) string {
	return h.join(".sanctum", "certs", "clients", probe+".key")
}

// LogDir holds the probes' logs and the primary server's.
func (h Home) LogDir() string { return h.join(".openclaw", "logs") }

// ProbeLog is a probe's JSON-lines event log.
func (h Home) ProbeLog(probe string) string { return ProbeLog(h.LogDir(), probe) }

// PrimaryLog is the primary server's log.
func (h Home) PrimaryLog() string { return h.join(".openclaw", "logs", "sanctum-mlx.log") }

// LaunchAgents is where a user's launchd agents live (macOS).
func (h Home) LaunchAgents() string { return h.join("Library", "LaunchAgents") }

// SystemdUserDir is where a user's own systemd units live (Linux): the
// user manager reads $XDG_CONFIG_HOME/systemd/user, or this directory when
// XDG_CONFIG_HOME is not set (systemd.unit(5), "User Unit Search Path").
func (h Home) SystemdUserDir() string { return h.join(".config", "systemd", "user") }

// BinDir is where `make install` puts the binaries by default.
func (h Home) BinDir() string { return h.join(".local", "bin") }

// Repo is the checkout of the server's repository, whose committed files
// drift compares with what is deployed.
func (h Home) Repo() string { return h.join("sanctum-rs") }

// PrimaryBinary is the primary server's binary, as the repository builds it.
func (h Home) PrimaryBinary() string { return h.join("sanctum-rs", "target", "release", "sanctum-mlx") }

// Base is a probe's file name stem: council-<probe>.
func Base(probe string) string { return "council-" + probe }

// StateFile is a probe's state file in stateDir.
func StateFile(stateDir, probe string) string { return filepath.Join(stateDir, Base(probe)+".json") }

// LockFile is a probe's tick lock in stateDir.
func LockFile(stateDir, probe string) string { return filepath.Join(stateDir, Base(probe)+".lock") }

// OutboxFile is a probe's alert outbox in stateDir.
func OutboxFile(stateDir, probe string) string {
	return filepath.Join(stateDir, Base(probe)+".outbox.json")
}

// ProbeLog is a probe's JSON-lines log in logDir.
func ProbeLog(logDir, probe string) string { return filepath.Join(logDir, Base(probe)+".log") }

// FallbackLock exists while the fallback serves: nothing falls back from
// the fallback.
func FallbackLock(stateDir string) string { return filepath.Join(stateDir, "council-fallback.lock") }

// RemediationLock is held by every probe that changes the service
// manager's state, so two probes never both promote the fallback.
func RemediationLock(stateDir string) string {
	return filepath.Join(stateDir, "council-remediation.lock")
}

// Expand resolves a path an operator gave an installer against the home:
// "" is def (relative to the home), "~" the home itself, "~/x" x under it;
// anything else must be absolute (a job run by launchd or systemd has no
// working directory worth trusting).
func (h Home) Expand(p, def string) (string, error) {
	switch {
	case p == "":
		return h.join(def), nil
	case p == "~":
		return string(h), nil
	case strings.HasPrefix(p, "~/"):
		return h.join(p[2:]), nil
	case filepath.IsAbs(p):
		return filepath.Clean(p), nil
	}
	return "", fmt.Errorf("path %q: must be absolute or start with ~/", p)
}
