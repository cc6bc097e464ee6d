package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fatih/color"
)

// TextOptions shape the human table.
type TextOptions struct {
	// Color turns on ANSI colour (the caller decides: a terminal and no
	// NO_COLOR).
	Color bool
	// Location is the time zone of absolute times; nil means local.
	Location *time.Location
}

// WriteJSON writes r as one indented JSON document.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the human table: one row per probe, its open channels and
// reasons indented below it, and the fallback lock last.
func WriteText(w io.Writer, r Report, o TextOptions) error {
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	paint := func(s string, attrs ...color.Attribute) string {
		c := color.New(attrs...)
		if o.Color {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c.Sprint(s)
	}
	stamp := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04:05") }

	host := ""
	if r.Host != "" {
		host = " on " + r.Host
	}
	var b strings.Builder
	fmt.Fprintf(&b, "council-status%s at %s: %s\n\n", host, stamp(r.GeneratedAt), paint(r.Result, resultColor(r.Exit)...))

	header := []string{"PROBE", "RESULT", "LAST TICK", "OUTBOX", "SUMMARY"}
	rows := make([][]string, 0, len(r.Probes))
	for _, p := range r.Probes {
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
		summary := p.LastSummary
		if p.Reason != "" {
			summary = p.Reason
		}
		rows = append(rows, []string{p.Name, p.Result, tick, outbox, summary})
	}
	widths := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, cell := range row[:len(row)-1] {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	pad := func(s string, i int) string { return s + strings.Repeat(" ", widths[i]-len([]rune(s))+2) }

	for i, h := range header[:len(header)-1] {
		b.WriteString(paint(pad(h, i), color.Bold))
	}
	b.WriteString(paint(header[len(header)-1], color.Bold) + "\n")
	indent := strings.Repeat(" ", widths[0]+2)
	for n, p := range r.Probes {
		row := rows[n]
		b.WriteString(pad(row[0], 0))
		b.WriteString(paint(pad(row[1], 1), resultColor(p.Exit)...))
		if p.Stale {
			b.WriteString(paint(pad(row[2], 2), color.FgYellow))
		} else {
			b.WriteString(pad(row[2], 2))
		}
		if p.OutboxDepth > 0 || p.OutboxError != "" {
			b.WriteString(paint(pad(row[3], 3), color.FgYellow))
		} else {
			b.WriteString(pad(row[3], 3))
		}
		b.WriteString(row[4] + "\n")

		for _, c := range p.Channels {
			state := "failing"
			if c.Firing {
				state = "firing"
			}
			line := fmt.Sprintf("└ %s %s %s", c.Check, c.Severity, state)
			if !c.Since.IsZero() {
				line += fmt.Sprintf(" since %s (%s)", stamp(c.Since), FormatAge(r.GeneratedAt.Sub(c.Since)))
			}
			line += fmt.Sprintf(", %d in a row", c.Consecutive)
			if c.Summary != "" {
				line += ": " + c.Summary
			}
			b.WriteString(indent + paint(line, severityColor(c.Severity)...) + "\n")
		}
		if p.Reason != "" && p.LastResult != "" {
			last := "last tick: " + p.LastResult
			if p.LastSummary != "" {
				last += " - " + p.LastSummary
			}
			b.WriteString(indent + last + "\n")
		}
		if p.Exit != ExitOK {
			ev, what := p.LastProblem, "last problem"
			if ev == nil {
				ev, what = p.LastEvent, "last event"
			}
			if ev != nil {
				line := fmt.Sprintf("log %s: %s %s %s", what, stamp(ev.TS), ev.Level, ev.Event)
				if ev.Check != "" {
					line += " check=" + ev.Check
				}
				if ev.Detail != "" {
					line += ": " + ev.Detail
				}
				b.WriteString(indent + paint(line, color.Faint) + "\n")
			}
		}
		for _, e := range []string{p.OutboxError, p.LogError} {
			if e != "" {
				b.WriteString(indent + paint(e, color.FgYellow) + "\n")
			}
		}
	}

	b.WriteString("\n")
	fb := r.Fallback
	switch {
	case !fb.Active:
		b.WriteString("fallback lock: none (the primary serves)\n")
	default:
		line := "fallback lock: " + paint("ACTIVE", color.FgYellow, color.Bold)
		if !fb.When.IsZero() {
			line += fmt.Sprintf(" since %s (%s ago)", stamp(fb.When), FormatAge(r.GeneratedAt.Sub(fb.When)))
		}
		if fb.Who != "" {
			line += " by " + fb.Who
		}
		if fb.PID != 0 {
			line += fmt.Sprintf(" (pid %d)", fb.PID)
		}
		if fb.Why != "" {
			line += ": " + fb.Why
		}
		b.WriteString(line + "\n")
		if fb.Error != "" {
			b.WriteString("  " + paint(fb.Error, color.FgYellow) + "\n")
		}
		fmt.Fprintf(&b, "  the fallback serves until an operator restores the primary (%s)\n", fb.Path)
	}
	if be := r.Backend; be != nil {
		fmt.Fprintf(&b, "backend: %s at %s, detected %s (%s ago): %s\n", be.Kind, be.URL, stamp(be.DetectedAt),
			FormatAge(r.GeneratedAt.Sub(be.DetectedAt)), be.Evidence)
	}
	_, err := io.WriteString(w, b.String())
	return err
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
