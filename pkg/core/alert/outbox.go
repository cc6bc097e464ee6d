package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// DefaultOutboxMax bounds the outbox; at one probe's alert rate this is days
// of notifier outage.
const DefaultOutboxMax = 500

// MaxOutboxBytes bounds what LoadOutbox reads. A full outbox of
// DefaultOutboxMax entries is well under 1 MB; a file larger than this was
// not written by a probe within its bounds, and is treated as corrupt: kept
// aside, and salvaged from its first MaxOutboxBytes only, so a tick never
// spends its memory and time on it.
const MaxOutboxBytes = 4 << 20

// ErrOutboxCorrupt is returned (wrapped) by LoadOutbox when the file could
// not be parsed, or was too large to read. The caller gets every entry that
// could be salvaged and must report the error; the file is kept beside the
// outbox (path+".corrupt") for an operator, and the outbox's Lost report
// makes the dispatcher send one alert saying how many notices were lost.
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

// LostReport says that a corrupt outbox lost notices, until an alert has
// said so.
type LostReport struct {
	// Lost is how many notices could not be read back; AtLeast is set when
	// the file was too large to read whole, so there may be more.
	Lost     int  `json:"lost"`
	AtLeast  bool `json:"at_least,omitempty"`
	Salvaged int  `json:"salvaged"`
	// Kept is where the corrupt file was kept.
	Kept string `json:"kept"`
}

// Outbox is the durable queue of undelivered notices, oldest first. It is
// owned by one probe and touched only under that probe's tick lock.
type Outbox struct {
	path string
	Max  int `json:"-"`

	NextID int64 `json:"next_id"`
	// Count is len(Entries) when saved, written before them, so a file
	// damaged further on still says how many it held.
	Count   int       `json:"count"`
	Entries []Pending `json:"entries"`
	// Overflowed counts notices dropped because the outbox was full, since
	// the last time that was reported by an alert.
	Overflowed int `json:"overflowed"`
	// OverflowedTotal never resets (for metrics).
	OverflowedTotal int `json:"overflowed_total"`
	// Lost is set when a corrupt file lost notices and no alert has said so
	// yet.
	Lost *LostReport `json:"lost,omitempty"`

	// Trimmed is how many of the oldest entries LoadOutbox dropped because
	// the file held more than Max (also counted in Overflowed), for the
	// caller to log.
	Trimmed int `json:"-"`
}

// NewOutbox returns an empty outbox that Save writes to path; max <= 0 means
// DefaultOutboxMax.
func NewOutbox(path string, max int) *Outbox {
	if max <= 0 {
		max = DefaultOutboxMax
	}
	return &Outbox{path: path, Max: max}
}

// LoadOutbox reads the outbox at path; a missing file is an empty outbox.
// An outbox holding more than max entries is trimmed, oldest first, and the
// overflow counted (Trimmed, Overflowed). A corrupt file, or one larger than
// MaxOutboxBytes, is renamed to path+".corrupt"; every complete entry in it
// (within the first MaxOutboxBytes) is salvaged, Lost says how many were
// not, and the error wraps ErrOutboxCorrupt.
func LoadOutbox(path string, max int) (*Outbox, error) {
	o := NewOutbox(path, max)
	// Not through a symlink, not blocking on a FIFO, regular files only.
	f, err := atomicfile.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return o, fmt.Errorf("load outbox %s: %w", path, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxOutboxBytes+1))
	f.Close()
	if err != nil {
		return o, fmt.Errorf("load outbox %s: %w", path, err)
	}
	tooBig := len(data) > MaxOutboxBytes
	var why error
	if tooBig {
		data = data[:MaxOutboxBytes]
		why = fmt.Errorf("larger than %d bytes", MaxOutboxBytes)
	} else if why = json.Unmarshal(data, o); why == nil {
		o.path, o.Max = path, NewOutbox(path, max).Max
		o.trim()
		return o, nil
	}
	kept := path + ".corrupt"
	if err := os.Rename(path, kept); err != nil {
		kept = path // could not move it aside; the next Save replaces it
	}
	o = salvage(data)
	o.path, o.Max = path, NewOutbox(path, max).Max
	// Keep the newest Max of what was salvaged; the rest is counted as lost
	// below (not as overflow, which would report it twice).
	if n := len(o.Entries) - o.Max; n > 0 {
		o.Entries = append([]Pending(nil), o.Entries[n:]...)
		o.Trimmed = n
	}
	// How many the file held: its own count when that survived, else the
	// entries visible in what was read (then there may have been more).
	held, atLeast := o.Count, false
	if seen := len(noticeKeyRE.FindAllIndex(data, -1)); seen > held {
		held, atLeast = seen, tooBig
	}
	report := &LostReport{Lost: max0(held - len(o.Entries)), AtLeast: atLeast, Salvaged: len(o.Entries), Kept: kept}
	if o.Lost != nil {
		report.Lost += o.Lost.Lost // an earlier loss not yet reported
		report.AtLeast = report.AtLeast || o.Lost.AtLeast
	}
	o.Lost = report
	more := ""
	if report.AtLeast {
		more = "at least "
	}
	return o, fmt.Errorf("load outbox %s: %w (kept as %s): %v; salvaged %d notice(s), lost %s%d",
		path, ErrOutboxCorrupt, kept, why, report.Salvaged, more, report.Lost)
}

// noticeKeyRE finds the "notice" key that every entry has exactly once.
// Counting it tells how many entries a damaged file held: inside a JSON
// string a quote is escaped, so "notice" followed by a colon cannot occur
// in a value.
var noticeKeyRE = regexp.MustCompile(`"notice"\s*:`)

// salvage decodes what it can of a damaged outbox: the counters, and every
// complete entry up to the first damage (an entry of the wrong shape is
// skipped).
func salvage(data []byte) *Outbox {
	o := &Outbox{}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return o
	}
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return o
		}
		switch key {
		case "entries":
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				return o
			}
			for dec.More() {
				var p Pending
				err := dec.Decode(&p)
				var typeErr *json.UnmarshalTypeError
				switch {
				case errors.As(err, &typeErr):
					continue // complete, but not an entry: skip it
				case err != nil:
					return o
				}
				o.Entries = append(o.Entries, p)
				o.NextID = max(o.NextID, p.ID)
			}
			if _, err := dec.Token(); err != nil {
				return o
			}
		default:
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return o
			}
			var n int64
			switch key {
			case "count":
				json.Unmarshal(v, &o.Count)
			case "next_id":
				if json.Unmarshal(v, &n) == nil {
					o.NextID = max(o.NextID, n)
				}
			case "overflowed":
				json.Unmarshal(v, &o.Overflowed)
			case "overflowed_total":
				json.Unmarshal(v, &o.OverflowedTotal)
			case "lost":
				json.Unmarshal(v, &o.Lost)
			}
		}
	}
	return o
}

// trim drops the oldest entries beyond Max, counting them as overflow.
func (o *Outbox) trim() {
	if n := len(o.Entries) - o.Max; n > 0 {
		o.Entries = append([]Pending(nil), o.Entries[n:]...)
		o.Overflowed += n
		o.OverflowedTotal += n
		o.Trimmed += n
	}
}

func max0(n int) int { return max(n, 0) }

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
	if len(o.Entries) == 0 && o.Overflowed == 0 && o.OverflowedTotal == 0 && o.Lost == nil {
		if err := os.Remove(o.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("save outbox: %w", err)
		}
		return nil
	}
	o.Count = len(o.Entries)
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return fmt.Errorf("save outbox: %w", err)
	}
	return atomicfile.WriteFile(o.path, data, 0o600)
}
