package systemdsim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// The journal is one file beside the state, a line per entry:
//
//	<µs since the epoch> <writer> <unit> <message>
//
// where writer is "systemd" for the service manager's own lines about the
// unit and "unit" for what the unit's processes printed. journald tells
// the two apart by the writer's control group (the trusted _SYSTEMD_UNIT
// field), which `-o json` shows. Entries are appended with O_APPEND, one
// write each, by the invocations and the supervisors (which copy their
// unit's output into it).

// Writers of an entry.
const (
	bySystemd = "systemd"
	byUnit    = "unit"
)

// journal appends one of systemd's own entries about unit.
func journal(statePath, unit, msg string) {
	f, err := os.OpenFile(JournalPath(statePath), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(entry(bySystemd, unit, msg))
}

func entry(writer, unit, msg string) string {
	msg = strings.TrimRight(msg, "\r\n")
	return strconv.FormatInt(time.Now().UnixMicro(), 10) + " " + writer + " " + unit + " " + msg + "\n"
}

// maxJournalLine bounds one line of a unit's output in the journal, as
// journald's LineMax= does (48K by default); longer lines are split.
const maxJournalLine = 48 << 10

// copyOutput copies a unit's output into the journal, line by line, until
// r ends.
func copyOutput(statePath, unit string, r io.Reader) {
	f, err := os.OpenFile(JournalPath(statePath), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		io.Copy(io.Discard, r)
		return
	}
	defer f.Close()
	br := bufio.NewReaderSize(r, maxJournalLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			f.WriteString(entry(byUnit, unit, string(line)))
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
	}
}

// JournalMain is fake-journalctl: the arguments after the program name;
// it returns the exit status. It reads the journal of FAKE_SYSTEMD_STATE
// with the options the probes use: -u/--unit/--user-unit, --since @EPOCH,
// -n/--lines, -o cat|json (json with --output-fields, as journald fills
// MESSAGE, _SYSTEMD_UNIT and _SYSTEMD_USER_UNIT), --no-pager, -q, --user,
// --system.
func JournalMain(args []string, stdout, stderr io.Writer) int {
	statePath := os.Getenv(EnvState)
	if statePath == "" {
		fmt.Fprintf(stderr, "fake journalctl: %s is not set (this is a simulation, not journalctl)\n", EnvState)
		return 64
	}
	if err := logCall(statePath, "journalctl", args); err != nil {
		fmt.Fprintf(stderr, "fake journalctl: log: %v\n", err)
		return 70
	}
	q, code := parseJournalArgs(args, stderr)
	if code != 0 {
		return code
	}
	es, err := readJournal(statePath, q.units, q.since)
	if err != nil {
		fmt.Fprintf(stderr, "fake journalctl: %v\n", err)
		return 1
	}
	if q.lines >= 0 && len(es) > q.lines {
		es = es[len(es)-q.lines:]
	}
	for _, e := range es {
		if q.output == "json" {
			b, _ := json.Marshal(e.fields(q.user))
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			fmt.Fprintln(stdout, e.msg)
		}
	}
	return 0
}

// journalQuery is what a journalctl command line asks for.
type journalQuery struct {
	units  []string
	since  time.Time
	lines  int // -1: all
	output string
	user   bool
}

// parseJournalArgs reads the options the probes use; a non-zero code is
// the exit status of a command line the simulation refuses (said on
// stderr).
func parseJournalArgs(args []string, stderr io.Writer) (journalQuery, int) {
	q := journalQuery{lines: -1}
	value := func(i *int, a string) (string, bool) {
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
			return v, true
		}
		if *i+1 >= len(args) {
			return "", false
		}
		*i++
		return args[*i], true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--user":
			q.user = true
		case "--system", "--no-pager", "-q", "--quiet", "--output-fields":
		case "-u", "--unit", "--user-unit":
			v, ok := value(&i, a)
			if !ok {
				return q, usage(stderr, a)
			}
			q.units = append(q.units, unitName(v))
		case "-n", "--lines":
			v, ok := value(&i, a)
			n, err := strconv.Atoi(v)
			if !ok || err != nil || n < 0 {
				return q, usage(stderr, a)
			}
			q.lines = n
		case "-o", "--output":
			v, ok := value(&i, a)
			if !ok {
				return q, usage(stderr, a)
			}
			q.output = v
		case "-S", "--since":
			v, ok := value(&i, a)
			sec, err := strconv.ParseInt(strings.TrimPrefix(v, "@"), 10, 64)
			if !ok || !strings.HasPrefix(v, "@") || err != nil {
				fmt.Fprintf(stderr, "fake journalctl: --since %q: only @EPOCH is simulated\n", v)
				return q, 1
			}
			q.since = time.Unix(sec, 0)
		default:
			fmt.Fprintf(stderr, "fake journalctl: option %s is not simulated\n", a)
			return q, 1
		}
	}
	if q.output != "cat" && q.output != "json" {
		fmt.Fprintln(stderr, "fake journalctl: only -o cat and -o json are simulated")
		return q, 1
	}
	return q, 0
}

// journalEntry is one entry read back.
type journalEntry struct {
	writer, unit, msg string
}

// fields are the entry's journal fields as journald would fill them: the
// unit's own output is in the unit's control group; systemd's lines come
// from PID 1 (init.scope) or, under --user, from the user manager (in
// user@UID.service, its own init.scope) and name the unit in UNIT= or
// USER_UNIT=.
func (e journalEntry) fields(user bool) map[string]string {
	f := map[string]string{"MESSAGE": e.msg}
	switch {
	case e.writer == byUnit && user:
		f["_SYSTEMD_UNIT"], f["_SYSTEMD_USER_UNIT"] = fmt.Sprintf("user@%d.service", os.Getuid()), e.unit
	case e.writer == byUnit:
		f["_SYSTEMD_UNIT"] = e.unit
	case user:
		f["_SYSTEMD_UNIT"], f["_SYSTEMD_USER_UNIT"], f["USER_UNIT"] = fmt.Sprintf("user@%d.service", os.Getuid()), "init.scope", e.unit
	default:
		f["_SYSTEMD_UNIT"], f["UNIT"] = "init.scope", e.unit
	}
	return f
}

func usage(stderr io.Writer, opt string) int {
	fmt.Fprintf(stderr, "fake journalctl: option %s needs a value\n", opt)
	return 1
}

// readJournal returns the entries of units (all when none) at or after
// since, oldest first.
func readJournal(statePath string, units []string, since time.Time) ([]journalEntry, error) {
	f, err := os.Open(JournalPath(statePath))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string]bool{}
	for _, u := range units {
		want[u] = true
	}
	var out []journalEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 2*maxJournalLine)
	for sc.Scan() {
		ts, rest, ok := strings.Cut(sc.Text(), " ")
		writer, rest, ok2 := strings.Cut(rest, " ")
		unit, msg, ok3 := strings.Cut(rest, " ")
		us, err := strconv.ParseInt(ts, 10, 64)
		if !ok || !ok2 || !ok3 || err != nil {
			continue
		}
		if len(want) > 0 && !want[unit] {
			continue
		}
		if !since.IsZero() && time.UnixMicro(us).Before(since) {
			continue
		}
		out = append(out, journalEntry{writer: writer, unit: unit, msg: msg})
	}
	return out, sc.Err()
}
