package systemctl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// JournalCause is what a unit's journal says about how its main process
// last ended: systemd writes
//
//	ollama.service: Main process exited, code=killed, status=11/SEGV
//	ollama.service: Failed with result 'signal'.
//	ollama.service: Start request repeated too quickly.
//
// (testdata/journal-*.txt are real samples). It is the cause of a death
// that Restart= has already covered up: once the unit runs again its
// properties say "success".
type JournalCause struct {
	// Exit words the last "Main process exited" line as ExitWords does
	// ("signal 11 (SIGSEGV)"), prefixed with an unusual Result
	// ("oom-kill: signal 9 (SIGKILL)"); empty when there is none.
	Exit string
	// Result is the last "Failed with result '...'" ("signal", "oom-kill",
	// "exit-code", "core-dump", "start-limit-hit", ...).
	Result string
	// StartLimitHit: systemd refused a start because the unit was started
	// too often, whatever the Result.
	StartLimitHit bool
}

// Empty reports whether the journal said nothing about a death.
func (c JournalCause) Empty() bool { return c.Exit == "" && c.Result == "" && !c.StartLimitHit }

// maxJournalLine bounds one journal line read; a server can print anything.
const maxJournalLine = 64 << 10

// ParseJournal reads a unit's journal as `journalctl -u UNIT -o cat`
// prints it (message text only, oldest first) and returns what its newest
// lines say of the last death. Lines it does not know are skipped: most
// are the server's own.
func ParseJournal(out []byte) JournalCause {
	var c JournalCause
	var code string
	var status int
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 4096), maxJournalLine)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "Main process exited, code="):
			if k, n, ok := parseMainExited(line); ok {
				code, status = k, n
			}
		case strings.Contains(line, "Failed with result '"):
			_, rest, _ := strings.Cut(line, "Failed with result '")
			if r, _, ok := strings.Cut(rest, "'"); ok && isResultWord(r) {
				c.Result = r
			}
		case strings.Contains(line, "Start request repeated too quickly."):
			c.StartLimitHit = true
		}
	}
	// A line longer than maxJournalLine ends the scan: what came before
	// still counts.
	if code != "" {
		num := map[string]int{"exited": CodeExited, "killed": CodeKilled, "dumped": CodeDumped}[code]
		c.Exit = ExitWords(num, status)
		switch c.Result {
		case "", "success", "exit-code", "signal", "core-dump":
		default:
			c.Exit = c.Result + ": " + c.Exit
		}
	}
	if c.Exit == "" && c.Result != "" && c.Result != "success" {
		c.Exit = c.Result
	}
	return c
}

// isResultWord reports whether r can be one of systemd's Result= values
// ("exit-code", "oom-kill", "start-limit-hit"): lower-case letters and
// hyphens, short. The unit's own output shares the journal, so anything
// else is the server talking, not systemd.
func isResultWord(r string) bool {
	if r == "" || len(r) > 40 {
		return false
	}
	for _, c := range []byte(r) {
		if (c < 'a' || c > 'z') && c != '-' {
			return false
		}
	}
	return true
}

// parseMainExited reads "...Main process exited, code=killed,
// status=11/SEGV": the code word and the status number.
func parseMainExited(line string) (code string, status int, ok bool) {
	_, rest, _ := strings.Cut(line, "Main process exited, code=")
	code, rest, ok = strings.Cut(rest, ", status=")
	if !ok || (code != "exited" && code != "killed" && code != "dumped") {
		return "", 0, false
	}
	num, _, _ := strings.Cut(rest, "/")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || n > 255 {
		return "", 0, false
	}
	return code, n, true
}

// JournalFields are the fields the cause of a death is read with
// (`journalctl -o json --output-fields=...`): the message, and the two
// trusted fields journald sets from the writer's control group, which no
// process can forge.
const JournalFields = "MESSAGE,_SYSTEMD_UNIT,_SYSTEMD_USER_UNIT"

// ParseJournalJSON reads a unit's journal as `journalctl -o json
// --output-fields=JournalFields` prints it and returns what systemd's own
// lines say of the last death, as ParseJournal does. A line written by the
// unit itself (its _SYSTEMD_UNIT or _SYSTEMD_USER_UNIT is unit) is the
// server talking, however much it reads like systemd ("Main process
// exited, code=killed, status=11/SEGV"), and is skipped
// (testdata/journal-liar.json, captured from a real systemd, is such a
// server). A message journald stored as bytes (not UTF-8 text) is never
// one of systemd's and is skipped too.
func ParseJournalJSON(out []byte, unit string) JournalCause {
	var msgs bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 4096), maxJournalLine)
	for sc.Scan() {
		var e struct {
			Message  any    `json:"MESSAGE"`
			Unit     string `json:"_SYSTEMD_UNIT"`
			UserUnit string `json:"_SYSTEMD_USER_UNIT"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Unit == unit || e.UserUnit == unit {
			continue
		}
		if m, ok := e.Message.(string); ok {
			msgs.WriteString(strings.ReplaceAll(m, "\n", " "))
			msgs.WriteByte('\n')
		}
	}
	return ParseJournal(msgs.Bytes())
}
