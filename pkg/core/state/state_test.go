package state

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sanctum/council-probes/pkg/core/alert"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "council-guardian.json")
	f := New("guardian")
	f.LastTick = time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC)
	f.LastExit = 2
	f.Channels["unreachable"] = &alert.Channel{Consecutive: 3, Firing: true, Severity: alert.Error}
	restarts := []time.Time{f.LastTick}
	if err := f.Put("restarts", restarts); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	g, err := Load(path, "guardian")
	if err != nil {
		t.Fatal(err)
	}
	if !g.LastTick.Equal(f.LastTick) || g.LastExit != 2 || g.Channels["unreachable"].Consecutive != 3 {
		t.Fatalf("round trip lost data: %+v", g)
	}
	var got []time.Time
	if ok, err := g.Get("restarts", &got); !ok || err != nil || len(got) != 1 {
		t.Fatalf("Get restarts = %v %v %v", got, ok, err)
	}
}

func TestLoadBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"truncated", `{"version":1,"probe":"guardian","chan`},
		{"garbage", "\x00\x01not json"},
		{"wrong shape", `{"version":1,"channels":[1,2,3]}`},
		{"future version", `{"version":99}`},
		{"empty file", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.json")
			os.WriteFile(path, []byte(tt.content), 0o600)
			f, err := Load(path, "guardian")
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if f == nil || f.Channels == nil || f.Data == nil || f.Probe != "guardian" {
				t.Fatalf("no usable fresh state: %+v", f)
			}
			if _, err := os.Stat(path + ".corrupt"); err != nil {
				t.Fatalf("bad file not kept: %v", err)
			}
			// The fresh state saves over the bad one.
			if err := f.Save(path); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path, "guardian"); err != nil {
				t.Fatalf("reload after reset: %v", err)
			}
		})
	}
}

func TestLoadMissingIsFresh(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), "nope.json"), "drift")
	if err != nil || f.Probe != "drift" || !f.LastTick.IsZero() {
		t.Fatalf("got %+v, %v", f, err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"version":1,"probe":"x","channels":{"a":{"consecutive":2}},"data":{"k":[1]}}`))
	f.Add([]byte(`{"version":1,"channels":{"a":null}}`))
	f.Add([]byte(`{`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.json")
		os.WriteFile(path, data, 0o600)
		s, err := Load(path, "p")
		if s == nil || s.Channels == nil || s.Data == nil {
			t.Fatalf("Load returned an unusable state (err %v)", err)
		}
		for _, c := range s.Channels {
			_ = c.Open() // must not panic on any loaded channel
		}
		if err := s.Save(path); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLoadOversizedIsCorruptUnread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "council-guardian.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(300 << 20) // sparse
	f.Close()
	g, err := Load(path, "guardian")
	if !errors.Is(err, ErrCorrupt) || g == nil || len(g.Channels) != 0 {
		t.Fatalf("Load = %v, %v; want a fresh state and ErrCorrupt", g, err)
	}
	if fi, err := os.Stat(path + ".corrupt"); err != nil || fi.Size() != 300<<20 {
		t.Fatalf("the oversized file was not kept as .corrupt: %v", err)
	}
}

func TestLoadRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere.json")
	New("guardian").Save(target)
	link := filepath.Join(dir, "link.json")
	os.Symlink(target, link)
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, fifo, dir} {
		_, err := Load(p, "guardian")
		if err == nil || errors.Is(err, ErrCorrupt) {
			t.Errorf("Load(%s) = %v; want a refusal that is not ErrCorrupt", p, err)
		}
		if _, err := os.Lstat(p + ".corrupt"); err == nil {
			t.Errorf("%s was moved aside as corrupt; it must be left for the operator", p)
		}
	}
}

// TestInterval: a recorded interval is used only when a probe can have it.
func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		seconds int
		want    time.Duration
		ok      bool
	}{
		{0, 0, false},
		{-30, 0, false},
		{1, time.Second, true},
		{86400, 24 * time.Hour, true},
		{int(MaxInterval / time.Second), MaxInterval, true},
		{int(MaxInterval/time.Second) + 1, 0, false},
		{10_000_000_000, 0, false}, // would wrap a Duration negative
	} {
		f := New("x")
		f.IntervalSeconds = tc.seconds
		if d, ok := f.Interval(); d != tc.want || ok != tc.ok {
			t.Errorf("IntervalSeconds %d: Interval() = %s, %v; want %s, %v", tc.seconds, d, ok, tc.want, tc.ok)
		}
	}
}
