package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"

	"github.com/sanctum/council-probes/pkg/core/redact"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/host/tilde"
)

// TextOptions shape the human table.
type TextOptions struct {
	// Color turns on ANSI colour (the caller decides: a terminal and no
	// NO_COLOR).
	Color bool
	// Location is the time zone of absolute times; nil means local.
	Location *time.Location
	// Width is the screen's width in columns: every line is cut to it with
	// an ellipsis. 0 means DefaultWidth.
	Width int
	// Wide prints everything in full, whatever Width says: each channel's
	// summary, the last tick and the last logged problem.
	Wide bool
	// Home is shortened to ~ in paths ("" leaves paths as they are).
	Home string
}

// DefaultWidth is the screen width when neither $COLUMNS nor the terminal
// says.
const DefaultWidth = 100

// minSummary is the fewest columns a row's summary is cut to, however
// narrow the screen: a summary cut to nothing says nothing.
const minSummary = 12

// WriteJSON writes r as one indented JSON document.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the human table: one row per probe with its summary,
// under it one short line per open channel (name, severity, since,
// consecutive failures) and the notes that add something (why the verdict
// differs from the last tick, a logged problem no channel shows, files that
// could not be read), and the fallback lock last. Each line fits o.Width;
// with o.Wide nothing is cut and each channel's and event's full text is
// shown too.
func WriteText(w io.Writer, r Report, o TextOptions) error {
	v := newTextView(r, o)
	v.heading()
	v.table()
	v.fallback()
	v.footer()
	_, err := io.WriteString(w, v.b.String())
	return err
}

// textView is one rendering of the table: the report, the options
// resolved, and the ways every part writes a value.
type textView struct {
	r     Report
	o     TextOptions
	loc   *time.Location
	width int
	b     strings.Builder
}

func newTextView(r Report, o TextOptions) *textView {
	v := &textView{r: r, o: o, loc: o.Location, width: o.Width}
	if v.loc == nil {
		v.loc = time.Local
	}
	if v.width <= 0 {
		v.width = DefaultWidth
	}
	return v
}

// paint colours s, when colour is on.
func (v *textView) paint(s string, attrs ...color.Attribute) string {
	c := color.New(attrs...)
	if v.o.Color {
		c.EnableColor()
	} else {
		c.DisableColor()
	}
	return c.Sprint(s)
}

// fit cuts a line to the screen (not with Wide); colour is painted after,
// so escapes never count as columns.
func (v *textView) fit(s string) string {
	if v.o.Wide {
		return s
	}
	return cutRunes(s, v.width)
}

// home is how every string read from a file reaches the screen: paths
// under $HOME as ~, and no control or format character (a newline, an
// escape sequence or a bidi override a server put in an error): a line
// stays one line of known width and cannot repaint the terminal
// (text.Clean).
func (v *textView) home(s string) string { return tilde.Text(text.Clean(s), v.o.Home) }

func (v *textView) stamp(t time.Time) string { return t.In(v.loc).Format("2006-01-02 15:04:05") }

// since is a channel's start: the time of day when it is today, the date
// too when not (in full with Wide).
func (v *textView) since(t time.Time) string {
	if v.o.Wide {
		return v.stamp(t)
	}
	if t.In(v.loc).Format("2006-01-02") == v.r.GeneratedAt.In(v.loc).Format("2006-01-02") {
		return t.In(v.loc).Format("15:04")
	}
	return t.In(v.loc).Format("Jan 02 15:04")
}

// heading is the first line: the host, the time and the overall result.
func (v *textView) heading() {
	r := v.r
	hostname := ""
	if r.Host != "" {
		hostname = " on " + r.Host
	}
	head := fmt.Sprintf("council-status%s at %s: ", hostname, v.stamp(r.GeneratedAt))
	if !v.o.Wide {
		head = cutRunes(head, max(v.width-runeLen(r.Result), minSummary))
	}
	v.b.WriteString(head + v.paint(r.Result, resultColor(r.Exit)...) + "\n\n")
}

// table is the probes' rows, the columns as wide as their widest cell and
// the summary cut to what is left of the screen, each row followed by its
// channels and notes.
func (v *textView) table() {
	header := []string{"PROBE", "RESULT", "LAST TICK", "OUTBOX", "SUMMARY"}
	rows := v.rows()
	widths := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, cell := range row[:len(row)-1] {
			widths[i] = max(widths[i], runeLen(cell))
		}
	}
	pad := func(s string, i int) string { return s + strings.Repeat(" ", widths[i]-runeLen(s)+2) }
	prefix := 0
	for _, wd := range widths[:len(widths)-1] {
		prefix += wd + 2
	}
	summaryWidth := max(v.width-prefix, minSummary)

	b := &v.b
	for i, h := range header[:len(header)-1] {
		b.WriteString(v.paint(pad(h, i), color.Bold))
	}
	b.WriteString(v.paint(header[len(header)-1], color.Bold) + "\n")
	for n, p := range v.r.Probes {
		row := rows[n]
		b.WriteString(pad(row[0], 0))
		b.WriteString(v.paint(pad(row[1], 1), resultColor(p.Exit)...))
		if p.Stale {
			b.WriteString(v.paint(pad(row[2], 2), color.FgYellow))
		} else {
			b.WriteString(pad(row[2], 2))
		}
		if p.OutboxDepth > 0 || p.OutboxError != "" {
			b.WriteString(v.paint(pad(row[3], 3), color.FgYellow))
		} else {
			b.WriteString(pad(row[3], 3))
		}
		summary := row[4]
		if !v.o.Wide {
			summary = cutRunes(summary, summaryWidth)
		}
		b.WriteString(strings.TrimRight(summary, " ") + "\n")
		v.probeNotes(p)
	}
}

// rows are the table's cells, one row per probe.
func (v *textView) rows() [][]string {
	rows := make([][]string, 0, len(v.r.Probes))
	for _, p := range v.r.Probes {
		tick := "never"
		if !p.LastTick.IsZero() {
			tick = FormatAge(time.Duration(p.AgeSeconds*float64(time.Second))) + " ago"
			if p.Stale {
				tick += " STALE"
			}
		}
		outbox := fmt.Sprint(p.OutboxDepth)
		if p.OutboxError != "" {
			outbox = "?"
		}
		summary := v.home(rowSummary(p))
		if !v.o.Wide {
			summary = withoutLeadingChannel(summary, p.Channels, v.home)
		}
		rows = append(rows, []string{text.Clean(p.Name), p.Result, tick, outbox, summary})
	}
	return rows
}

// probeNotes are the lines under a probe's row: its open channels, why its
// verdict differs from its last tick, a logged problem no channel shows,
// and the files that could not be read.
func (v *textView) probeNotes(p ProbeStatus) {
	const note = "    "
	b := &v.b
	open := map[string]bool{}
	for _, c := range p.Channels {
		open[c.Check] = true
		b.WriteString(v.paint(channelLine(c, v.home, v.since, v.r.GeneratedAt, v.width, v.o.Wide), severityColor(c.Severity)...) + "\n")
	}
	if p.Reason != "" && p.LastResult != "" {
		last := "last tick: " + p.LastResult
		if p.LastSummary != "" {
			last += " - " + v.home(p.LastSummary)
		}
		b.WriteString(v.fit(note+last) + "\n")
	}
	if ev, what := noteworthyEvent(p, open, v.o.Wide); ev != nil {
		line := fmt.Sprintf("log %s: %s %s %s", what, v.stamp(ev.TS), ev.Level, ev.Event)
		if ev.Check != "" {
			line += " check=" + ev.Check
		}
		if ev.Detail != "" {
			line += ": " + ev.Detail
		}
		b.WriteString(v.paint(v.fit(note+v.home(line)), color.Faint) + "\n")
	}
	for _, e := range []string{p.OutboxError, p.LogError} {
		if e != "" {
			b.WriteString(v.paint(v.fit(note+v.home(e)), color.FgYellow) + "\n")
		}
	}
}

// fallback is the fallback lock's lines: none, or since when, by whom, why.
func (v *textView) fallback() {
	b, r := &v.b, v.r
	b.WriteString("\n")
	fb := r.Fallback
	if !fb.Active {
		b.WriteString("fallback lock: none (the primary serves)\n")
		return
	}
	line := "fallback lock: ACTIVE"
	if !fb.When.IsZero() {
		line += fmt.Sprintf(" since %s (%s ago)", v.since(fb.When), FormatAge(r.GeneratedAt.Sub(fb.When)))
	}
	if fb.Who != "" {
		line += " by " + v.home(fb.Who)
	}
	if fb.PID != 0 {
		line += fmt.Sprintf(" (pid %d)", fb.PID)
	}
	line = v.fit(line)
	b.WriteString(strings.Replace(line, "ACTIVE", v.paint("ACTIVE", color.FgYellow, color.Bold), 1) + "\n")
	if fb.Why != "" {
		b.WriteString(v.fit("  why: "+v.home(fb.Why)) + "\n")
	}
	if fb.Error != "" {
		b.WriteString(v.paint(v.fit("  "+v.home(fb.Error)), color.FgYellow) + "\n")
	}
	b.WriteString(v.fit(fmt.Sprintf("  the fallback serves until an operator restores the primary (%s)", v.home(fb.Path))) + "\n")
}

// footer is the server the probes detected and the service manager.
func (v *textView) footer() {
	r := v.r
	if be := r.Backend; be != nil {
		v.b.WriteString(v.fit(fmt.Sprintf("backend: %s at %s, detected %s (%s ago): %s", v.home(string(be.Kind)), v.home(redact.URL(be.URL)), v.stamp(be.DetectedAt),
			FormatAge(r.GeneratedAt.Sub(be.DetectedAt)), v.home(redact.String(be.Evidence)))) + "\n")
	}
	if r.ServiceManager != "" {
		v.b.WriteString(v.fit("service manager: "+r.ServiceManager) + "\n")
	}
}

// rowSummary is what a probe's row says: why its verdict differs from its
// last tick, or how that tick ended.
func rowSummary(p ProbeStatus) string {
	if p.Reason != "" {
		return p.Reason
	}
	return p.LastSummary
}

// withoutLeadingChannel drops the "<check>: " a failing tick's summary
// starts with when that check has its own line under the row: the row then
// says what is wrong, the line under it where.
func withoutLeadingChannel(summary string, chs []ChannelStatus, home func(string) string) string {
	for _, c := range chs {
		if rest, ok := strings.CutPrefix(summary, home(c.Check)+": "); ok && rest != "" {
			return rest
		}
	}
	return summary
}

// channelLine is one open channel: name, severity, firing or not, since
// when and how many failures in a row; with wide, its summary too. On a
// narrow screen "since" goes first, then the name gives way in its middle,
// keeping the check and the file name.
func channelLine(c ChannelStatus, home func(string) string, since func(time.Time) string, now time.Time, width int, wide bool) string {
	state := "failing"
	if c.Firing {
		state = "firing"
	}
	count := fmt.Sprintf(", %d in a row", c.Consecutive)
	short := " " + home(c.Severity) + " " + state + count
	full := short
	if !c.Since.IsZero() {
		full = fmt.Sprintf(" %s %s since %s (%s)%s", home(c.Severity), state, since(c.Since), FormatAge(now.Sub(c.Since)), count)
	}
	const lead = "  └ "
	name := home(c.Check)
	if wide {
		line := lead + name + full
		if c.Summary != "" {
			line += ": " + home(c.Summary)
		}
		return line
	}
	for _, tail := range []string{full, short} {
		if runeLen(lead+name+tail) <= width {
			return lead + name + tail
		}
	}
	room := max(width-runeLen(lead)-runeLen(short), minSummary)
	if check, subject, ok := strings.Cut(name, ":"); ok && runeLen(check)+1 < room-4 {
		name = check + ":" + cutPath(subject, room-runeLen(check)-1)
	} else {
		name = cutPath(name, room)
	}
	return cutRunes(lead+name+short, width)
}

// cutPath cuts a path to n columns by replacing the middle with "…",
// keeping the file name whole when it fits.
func cutPath(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	keep := n - 1
	base := len([]rune(s[strings.LastIndex(s, "/")+1:]))
	head := 0 // the file name alone when even it does not fit
	if base+1 <= keep {
		head = keep - base - 1
	}
	return string(r[:head]) + "…" + string(r[len(r)-(keep-head):])
}

// noteworthyEvent is the logged event worth a line under a probe that is
// not OK: its last problem (or, with none in the log tail, its last event),
// unless an open channel above already shows it or the row's summary
// already says it. With wide it is shown whenever there is one.
func noteworthyEvent(p ProbeStatus, open map[string]bool, wide bool) (*Event, string) {
	if p.Exit == ExitOK {
		return nil, ""
	}
	ev, what := p.LastProblem, "last problem"
	if ev == nil {
		ev, what = p.LastEvent, "last event"
	}
	if ev == nil || wide {
		return ev, what
	}
	if ev.Check != "" && open[ev.Check] && ev.Detail == channelSummary(p, ev.Check) {
		// The failure event of a channel listed above: nothing new. An
		// event of the same check that says something else (why its
		// alert was spooled) is kept.
		return nil, ""
	}
	if ev.Detail != "" && (strings.Contains(p.LastSummary, ev.Detail) || strings.Contains(p.Reason, ev.Detail)) {
		return nil, ""
	}
	if ev.Detail == "" && ev.Event == "tick_done" {
		return nil, ""
	}
	return ev, what
}

func channelSummary(p ProbeStatus, check string) string {
	for _, c := range p.Channels {
		if c.Check == check {
			return c.Summary
		}
	}
	return ""
}

// runeLen is the columns s takes, counting one per rune (wide East Asian
// characters take two on most terminals; probe output is ASCII in practice).
func runeLen(s string) int { return utf8.RuneCountInString(s) }

// cutRunes cuts s to at most n columns, ending in "…" when it cut.
func cutRunes(s string, n int) string {
	if runeLen(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

func resultColor(code int) []color.Attribute {
	switch code {
	case ExitOK:
		return []color.Attribute{color.FgGreen}
	case ExitWarning:
		return []color.Attribute{color.FgYellow}
	case ExitCritical:
		return []color.Attribute{color.FgRed, color.Bold}
	}
	return []color.Attribute{color.FgMagenta}
}

func severityColor(sev string) []color.Attribute {
	switch sev {
	case "critical", "error":
		return []color.Attribute{color.FgRed}
	case "warn":
		return []color.Attribute{color.FgYellow}
	}
	return []color.Attribute{color.FgCyan}
}
