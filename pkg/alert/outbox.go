package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sanctum/council-probes/pkg/atomicfile"
)

// DefaultOutboxMax bounds the outbox; at one probe's alert rate this is days
// of notifier outage.
const DefaultOutboxMax = 500

// ErrOutboxCorrupt is returned (wrapped) by LoadOutbox when the file could
// not be parsed. The caller gets an empty outbox and must report this: the
// corrupt file is kept beside it for an operator, not silently deleted.
var ErrOutboxCorrupt = errors.New("outbox file is corrupt")

// Pending is one notice waiting for one sink.
type Pending struct {
	ID       int64     `json:"id"`
	Sink     string    `json:"sink"`
	Notice   Notice    `json:"notice"`
	Queued   time.Time `json:"queued"`
	Attempts int       `json:"attempts"`
	LastErr  string    `json:"last_error,omitempty"`
}

// Outbox is the durable queue of undelivered notices, oldest first. It is
// owned by one probe and touched only under that probe's tick lock.
type Outbox struct {
	path string
	Max  int `json:"-"`

	NextID  int64     `json:"next_id"`
	Entries []Pending `json:"entries"`
	// Overflowed counts notices dropped because the outbox was full, since
	// the last time that was reported by an alert.
	Overflowed int `json:"overflowed"`
	// OverflowedTotal never resets (for metrics).
	OverflowedTotal int `json:"overflowed_total"`
}

// NewOutbox returns an empty outbox that Save writes to path; max <= 0 means
// DefaultOutboxMax.
func NewOutbox(path string, max int) *Outbox {
	if max <= 0 {
		max = DefaultOutboxMax
	}
	return &Outbox{path: path, Max: max}
}

// LoadOutbox reads the outbox at path; a missing file is an empty outbox. A
// corrupt file is renamed to path+".corrupt" and an empty outbox is returned
// with an error wrapping ErrOutboxCorrupt.
func LoadOutbox(path string, max int) (*Outbox, error) {
	o := NewOutbox(path, max)
	max = o.Max
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return o, fmt.Errorf("load outbox %s: %w", path, err)
	}
	if err := json.Unmarshal(data, o); err != nil {
		kept := path + ".corrupt"
		os.Rename(path, kept)
		*o = Outbox{path: path, Max: max}
		return o, fmt.Errorf("load outbox %s: %w (kept as %s): %v", path, ErrOutboxCorrupt, kept, err)
	}
	o.path, o.Max = path, max
	return o, nil
}

// Len is the number of pending notices.
func (o *Outbox) Len() int { return len(o.Entries) }

// Add appends a notice for sink. When the outbox is full the oldest
// non-critical entry (or, failing that, the oldest) is dropped and counted.
// It returns the dropped entry, if any, so the caller can log it.
func (o *Outbox) Add(sink string, n Notice, now time.Time, lastErr string) *Pending {
	var dropped *Pending
	if len(o.Entries) >= o.Max {
		victim := 0
		for i, e := range o.Entries {
			if e.Notice.Severity != Critical {
				victim = i
				break
			}
		}
		d := o.Entries[victim]
		dropped = &d
		o.Entries = append(o.Entries[:victim], o.Entries[victim+1:]...)
		o.Overflowed++
		o.OverflowedTotal++
	}
	o.NextID++
	o.Entries = append(o.Entries, Pending{ID: o.NextID, Sink: sink, Notice: n, Queued: now, Attempts: 1, LastErr: lastErr})
	return dropped
}

// HasPending reports whether sink has anything queued (new notices must queue
// behind it to keep the order).
func (o *Outbox) HasPending(sink string) bool {
	for _, e := range o.Entries {
		if e.Sink == sink {
			return true
		}
	}
	return false
}

// Remove deletes the entry with id.
func (o *Outbox) Remove(id int64) {
	for i, e := range o.Entries {
		if e.ID == id {
			o.Entries = append(o.Entries[:i], o.Entries[i+1:]...)
			return
		}
	}
}

// Save writes the outbox atomically. An empty outbox with nothing to report
// removes the file.
func (o *Outbox) Save() error {
	if len(o.Entries) == 0 && o.Overflowed == 0 && o.OverflowedTotal == 0 {
		if err := os.Remove(o.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("save outbox: %w", err)
		}
		return nil
	}
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return fmt.Errorf("save outbox: %w", err)
	}
	return atomicfile.WriteFile(o.path, data, 0o600)
}
