// Package state is a probe's small persistent memory between ticks: when it
// last completed a tick and how it ended, its alert channels (consecutive
// failures, cooldowns) and probe-specific data such as restart history.
//
// One JSON file per probe, written atomically. A corrupt or truncated file is
// never fatal: Load returns a fresh state and an error wrapping ErrCorrupt,
// which the probe logs as a warning before carrying on. A file over MaxSize
// is corrupt by its size alone and is not read. A state path that is a
// symlink, a FIFO or a directory is refused (an error not wrapping
// ErrCorrupt): it is never followed, read or replaced.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// Version is the state file format version.
const Version = 1

// ErrCorrupt is wrapped by Load when the file exists but cannot be used.
var ErrCorrupt = errors.New("state file is corrupt")

// MaxSize bounds the state file: a real one is a few kilobytes (channels and
// a short restart history). Anything larger is corrupt and is not read, so
// it cannot cost the tick its memory.
const MaxSize = 4 << 20

// File is the content of a probe's state file.
type File struct {
	Version int    `json:"version"`
	Probe   string `json:"probe"`
	// IntervalSeconds is the probe's launchd interval, so watchers
	// (council-drift, council-status) can tell a silent probe from a quiet
	// one without knowing every probe's schedule.
	IntervalSeconds int `json:"interval_seconds,omitempty"`
	// ServiceManager names the service manager the probe last asked
	// ("launchd", "systemd user"), for council-status.
	ServiceManager string `json:"service_manager,omitempty"`
	// LastTick is when the last tick completed; LastExit and LastSummary how.
	LastTick    time.Time `json:"last_tick,omitzero"`
	LastExit    int       `json:"last_exit"`
	LastSummary string    `json:"last_summary,omitempty"`
	// Channels is the alert engine's per-check state.
	Channels map[string]*alert.Channel `json:"channels"`
	// Data holds probe-specific values by key.
	Data map[string]json.RawMessage `json:"data,omitempty"`
}

// MaxInterval bounds a recorded interval as it is read back. No probe
// runs less often than daily, so a week is generous; a larger value comes
// from a corrupt or planted file, and would either hide a silent probe for
// years or, past 292 years of seconds, wrap a time.Duration negative.
const MaxInterval = 7 * 24 * time.Hour

// Interval returns the interval the file records when it is one a probe
// can have (1 s to MaxInterval); ok is false when none is recorded or the
// value is out of range, and the reader uses the interval it knows.
func (f *File) Interval() (d time.Duration, ok bool) {
	if f.IntervalSeconds <= 0 || int64(f.IntervalSeconds) > int64(MaxInterval/time.Second) {
		return 0, false
	}
	return time.Duration(f.IntervalSeconds) * time.Second, true
}

// New returns an empty state for probe.
func New(probe string) *File {
	return &File{Version: Version, Probe: probe, Channels: map[string]*alert.Channel{}, Data: map[string]json.RawMessage{}}
}

// Load reads the state at path. A missing file yields a fresh state and no
// error. A corrupt one yields a fresh state and an error wrapping ErrCorrupt;
// the bad file is kept as path+".corrupt" for an operator to look at.
func Load(path, probe string) (*File, error) {
	data, err := atomicfile.ReadFile(path, MaxSize)
	if errors.Is(err, os.ErrNotExist) {
		return New(probe), nil
	}
	corrupt := func(why string) (*File, error) {
		kept := path + ".corrupt"
		os.Rename(path, kept)
		return New(probe), fmt.Errorf("load state %s: %w: %s (kept as %s, starting fresh)", path, ErrCorrupt, why, kept)
	}
	if errors.Is(err, atomicfile.ErrTooLarge) {
		return corrupt(fmt.Sprintf("larger than %d MiB, not read", MaxSize>>20))
	}
	if err != nil {
		return New(probe), fmt.Errorf("load state: %w", err)
	}
	f := New(probe)
	if err := json.Unmarshal(data, f); err != nil || f.Version != Version {
		why := "unsupported version"
		if err != nil {
			why = err.Error()
		}
		return corrupt(why)
	}
	if f.Channels == nil {
		f.Channels = map[string]*alert.Channel{}
	}
	if f.Data == nil {
		f.Data = map[string]json.RawMessage{}
	}
	for k, c := range f.Channels {
		if c == nil {
			delete(f.Channels, k)
		}
	}
	f.Probe = probe
	return f, nil
}

// Save writes the state atomically (mode 0600).
func (f *File) Save(path string) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o600)
}

// Get decodes the probe-specific value stored under key into v. A missing
// key leaves v untouched and returns false.
func (f *File) Get(key string, v any) (bool, error) {
	raw, ok := f.Data[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("state %s: %w", key, err)
	}
	return true, nil
}

// Put stores v under key.
func (f *File) Put(key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state %s: %w", key, err)
	}
	f.Data[key] = raw
	return nil
}
