package paritysmoke

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"
)

// reasonWidth caps the reason column so a row fits a terminal line.
const reasonWidth = 90

// writeTable writes the human report: one row per prompt with its result,
// latency, tokens (the common prefix with the reference as prefix/tokens)
// and the reason, then a one-line total. Colour follows fatih/color
// (off without a terminal or with NO_COLOR).
func writeTable(w io.Writer, results []result, withRef bool) {
	head := []string{"ID", "RESULT", "LATENCY", "TOKENS", "REASON"}
	if withRef {
		head = []string{"ID", "RESULT", "LATENCY", "REF", "PREFIX/TOKENS", "REASON"}
	}
	rows := [][]string{head}
	for _, r := range results {
		result := "pass"
		if !r.Pass {
			result = "FAIL"
		}
		row := []string{r.Prompt.ID, result, latency(r.Primary.Latency)}
		if withRef {
			row = append(row, refLatency(r), prefixCell(r))
		} else {
			row = append(row, fmt.Sprint(r.Primary.TokenCount()))
		}
		row = append(row, cut(reasonCell(r), reasonWidth))
		rows = append(rows, row)
	}
	widths := make([]int, len(head))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	bold, green, red := color.New(color.Bold), color.New(color.FgGreen), color.New(color.FgRed)
	for n, row := range rows {
		var b strings.Builder
		for i, c := range row {
			cell := c
			if i < len(row)-1 {
				cell += strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2)
			}
			switch {
			case n == 0:
				cell = bold.Sprint(cell)
			case i == 1 && c == "pass":
				cell = green.Sprint(cell)
			case i == 1:
				cell = red.Sprint(cell)
			}
			b.WriteString(cell)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	failed := len(failed(results))
	fmt.Fprintf(w, "%d/%d passed", len(results)-failed, len(results))
	if withRef {
		exact := 0
		for _, r := range results {
			if r.Cmp != nil && r.Cmp.Exact {
				exact++
			}
		}
		fmt.Fprintf(w, ", %d/%d identical to the reference", exact, len(results))
	}
	fmt.Fprintln(w)
}

func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func refLatency(r result) string {
	if r.Reference == nil {
		return "-"
	}
	return latency(r.Reference.Latency)
}

func prefixCell(r result) string {
	switch {
	case r.Cmp == nil:
		return "-"
	case r.Cmp.Exact:
		return fmt.Sprintf("%d/%d exact", r.Cmp.Prefix, r.Cmp.Tokens)
	}
	return fmt.Sprintf("%d/%d", r.Cmp.Prefix, r.Cmp.Tokens)
}

func reasonCell(r result) string {
	var parts []string
	if r.Reason != "" {
		parts = append(parts, r.Reason)
	}
	if r.Cmp != nil && !r.Cmp.Exact && r.Pass {
		parts = append(parts, fmt.Sprintf("diverged at token %d (tolerated): \"%s\" vs \"%s\"", r.Cmp.Divergence, r.Cmp.PrimaryExcerpt, r.Cmp.ReferenceExcerpt))
	}
	if r.RefProblem != "" {
		parts = append(parts, "reference: "+r.RefProblem)
	}
	return strings.Join(parts, "; ")
}

// cut shortens s to n runes with an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
