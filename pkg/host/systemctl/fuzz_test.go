package systemctl

import (
	"testing"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// FuzzParseShow: systemctl's output is the manager's, but a unit's
// properties carry what its author wrote.
func FuzzParseShow(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseShow(b)
		if err != nil {
			return
		}
		if u.LoadState == "" || u.MainPID < 0 || u.NRestarts < 0 {
			t.Fatalf("accepted %+v", u)
		}
		_ = u.ExitCause() // must not panic on any status
	})
}

// FuzzParseJournal: a unit's journal is mostly the server's own output,
// which may be anything; read as text and as JSON lines.
func FuzzParseJournal(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		c := ParseJournal(b)
		if j := ParseJournalJSON(b, "x.service"); len(j.Exit) > 200 || len(j.Result) > 40 || text.Clean(j.Exit) != j.Exit {
			t.Fatalf("unbounded or unclean cause from JSON %+v", j)
		}
		if len(c.Exit) > 200 || len(c.Result) > 40 {
			t.Fatalf("unbounded cause %+v", c)
		}
		if c.Result != "" && !isResultWord(c.Result) {
			t.Fatalf("result %q is not one of systemd's words", c.Result)
		}
		if text.Clean(c.Exit) != c.Exit {
			t.Fatalf("exit %q is not plain text", c.Exit)
		}
	})
}
