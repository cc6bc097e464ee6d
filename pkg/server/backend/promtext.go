package backend

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// The Prometheus text exposition format is read here by a small reader of
// our own, not by the Prometheus parser (github.com/prometheus/common/
// expfmt): expfmt pulls client_model and google.golang.org/protobuf into
// every network probe (pkg/probe imports this package), about 1.8 MB per
// binary, which breaks the 10 MB budget of each probe (see "Binary size and
// dependencies" in docs/RELIABILITY.md). expfmt stays, in tests only, as
// the oracle: a differential test and FuzzParsePrometheus check that this
// reader reads every sample value expfmt accepts the same way. Do not
// import expfmt outside _test.go files.
//
// The reader follows expfmt's tokenizer (quoted UTF-8 names, escapes in
// label values, HELP and TYPE lines, NaN and ±Inf, the summary and
// histogram series folded into their family) but reads only what the
// adapters need: each counter's, gauge's or untyped sample's value, by
// family. It is more lenient than expfmt: a line it cannot read is skipped
// (a sloppy exporter loses that line, not every metric), and the body is an
// error only when no line at all holds a sample.

// Bounds on a /metrics body, beyond maxMetricsBody on its bytes.
const (
	// maxPromLine: a longer line is skipped, unread.
	maxPromLine = 64 << 10
	// maxPromLines: a body with more lines is refused.
	maxPromLines = 200_000
)

// Family is one metric family of a Prometheus text exposition.
type Family struct {
	// Type is the TYPE line's type in lower case ("counter", "gauge",
	// "untyped", "summary", "histogram", "gauge_histogram"); "untyped"
	// when a sample came first.
	Type string
	// Values are the samples of a counter, gauge or untyped family, in
	// order (one per series line); a summary's or histogram's samples are
	// counted, not kept.
	Values []float64
	// Samples is how many sample lines belong to the family.
	Samples int
	help    bool
}

// Families is a parsed Prometheus text exposition, by family name: only
// families with at least one sample.
type Families map[string]*Family

// ParsePrometheus reads a /metrics body in the Prometheus text format. A
// line it cannot read is skipped; the body is an error only when it has
// more than maxPromLines lines, or unreadable lines and no sample.
func ParsePrometheus(body []byte) (Families, error) {
	all := map[string]*Family{}
	bad, firstBad, samples := 0, "", 0
	for n := 1; len(body) > 0; n++ {
		if n > maxPromLines {
			return nil, fmt.Errorf("parse /metrics: more than %d lines", maxPromLines)
		}
		line, rest, _ := bytes.Cut(body, []byte{'\n'})
		body = rest
		var err error
		if len(line) > maxPromLine {
			err = fmt.Errorf("longer than %d bytes", maxPromLine)
		} else {
			var sample bool
			sample, err = (&promLine{fams: all, b: line, i: -1}).parse()
			if sample {
				samples++
			}
		}
		if err != nil {
			if bad == 0 {
				firstBad = fmt.Sprintf("line %d: %s", n, err)
			}
			bad++
		}
	}
	if samples == 0 && bad > 0 {
		return nil, fmt.Errorf("parse /metrics: no sample read, %d unreadable lines (%s)", bad, text.Excerpt(firstBad, text.MaxIdent))
	}
	fams := Families{}
	for name, f := range all {
		if f.Samples > 0 {
			fams[name] = f
		}
	}
	return fams, nil
}

// promLine reads one line the way expfmt's state machine does, with c()
// as its current byte ('\n' past the end). State changes only when the
// line is read whole: a line skipped leaves the families as they were.
type promLine struct {
	fams map[string]*Family
	b    []byte
	i    int
}

func (p *promLine) c() byte {
	if p.i < 0 || p.i >= len(p.b) {
		return '\n'
	}
	return p.b[p.i]
}

func isBlankOrTab(b byte) bool { return b == ' ' || b == '\t' }

// skipBlankTab moves past the current byte and any blanks after it.
func (p *promLine) skipBlankTab() {
	for p.i++; p.i < len(p.b) && isBlankOrTab(p.b[p.i]); p.i++ {
	}
}

func (p *promLine) parse() (sample bool, err error) {
	p.skipBlankTab()
	switch p.c() {
	case '\n':
		return false, nil
	case '#':
		return false, p.comment()
	}
	err = p.sample()
	return err == nil, err
}

// comment reads a "# HELP name text" or "# TYPE name type" line; any other
// comment is skipped.
func (p *promLine) comment() error {
	p.skipBlankTab()
	if p.c() == '\n' {
		return nil
	}
	keyword := p.untilWhitespace()
	if p.c() == '\n' || (keyword != "HELP" && keyword != "TYPE") {
		return nil
	}
	p.skipBlankTab()
	name, err := p.metricName()
	if err != nil {
		return err
	}
	if p.c() == '\n' {
		return nil
	}
	if !isBlankOrTab(p.c()) {
		return fmt.Errorf("invalid metric name in comment")
	}
	if !validName(name) {
		return fmt.Errorf("invalid metric name")
	}
	p.skipBlankTab()
	if p.c() == '\n' {
		p.family(name)
		return nil
	}
	rest := p.b[p.i:]
	if keyword == "HELP" {
		if _, err := unescape(rest, true); err != nil {
			return err
		}
		f := p.family(name)
		if f.help {
			return fmt.Errorf("second HELP line")
		}
		f.help = true
		return nil
	}
	t, _ := unescape(rest, false)
	typ := strings.ToUpper(t)
	switch typ {
	case "COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM", "GAUGE_HISTOGRAM":
	case "GAUGEHISTOGRAM":
		typ = "GAUGE_HISTOGRAM"
	default:
		return fmt.Errorf("unknown metric type")
	}
	f := p.family(name)
	if f.Type != "" {
		return fmt.Errorf("second TYPE line, or TYPE after samples")
	}
	f.Type = strings.ToLower(typ)
	return nil
}

// sample reads "name{labels} value [timestamp]" or, with a quoted name,
// `{"name",labels} value [timestamp]`.
func (p *promLine) sample() error {
	var name string
	inBraces := p.c() == '{'
	if !inBraces {
		var err error
		if name, err = p.metricName(); err != nil {
			return err
		}
		if name == "" || !validName(name) {
			return fmt.Errorf("invalid metric name")
		}
		if isBlankOrTab(p.c()) {
			p.skipBlankTab()
		}
		if p.c() != '{' {
			return p.value(name)
		}
	}
	for {
		// At '{' or ',': the next label, or the end of the labels.
		p.skipBlankTab()
		if p.c() == '}' {
			if name == "" {
				return fmt.Errorf("invalid metric name")
			}
			p.skipBlankTab()
			return p.value(name)
		}
		token, err := p.labelName()
		if err != nil {
			return err
		}
		if token == "" {
			return fmt.Errorf("invalid label name")
		}
		if isBlankOrTab(p.c()) {
			p.skipBlankTab()
		}
		if p.c() != '=' {
			// A quoted (or bare) metric name inside the braces.
			if !inBraces || name != "" || (p.c() != ',' && p.c() != '}') {
				return fmt.Errorf("expected '=' after label name")
			}
			if !validName(token) {
				return fmt.Errorf("invalid metric name")
			}
			name = token
			if p.c() == '}' {
				p.skipBlankTab()
				return p.value(name)
			}
			continue
		}
		p.skipBlankTab()
		if p.c() != '"' {
			return fmt.Errorf("expected '\"' at start of label value")
		}
		if err := p.labelValue(); err != nil {
			return err
		}
		p.skipBlankTab()
		switch p.c() {
		case ',':
		case '}':
			if name == "" {
				return fmt.Errorf("invalid metric name")
			}
			p.skipBlankTab()
			return p.value(name)
		default:
			return fmt.Errorf("unexpected end of label value")
		}
	}
}

// value reads the sample's value and optional timestamp and files the
// sample under its family.
func (p *promLine) value(name string) error {
	v, err := parseFloat(p.untilWhitespace())
	if err != nil {
		return fmt.Errorf("expected float as value")
	}
	if p.c() != '\n' {
		p.skipBlankTab()
		if _, err := strconv.ParseInt(p.untilWhitespace(), 10, 64); err != nil {
			return fmt.Errorf("expected integer as timestamp")
		}
		if p.i < len(p.b) {
			if rest, _ := unescape(p.b[p.i:], false); rest != "" {
				return fmt.Errorf("spurious string after timestamp")
			}
		}
	}
	f := p.family(name)
	if f.Type == "" {
		f.Type = "untyped"
	}
	f.Samples++
	switch f.Type {
	case "counter", "gauge", "untyped":
		f.Values = append(f.Values, v)
	}
	return nil
}

// family is expfmt's setOrCreateCurrentMF, for a sample as for a HELP or
// TYPE line: the family named name, else the summary whose _sum or _count
// it is, else the histogram whose _sum, _count or _bucket it is, else a
// new family.
func (p *promLine) family(name string) *Family {
	if f := p.lookup(name); f != nil {
		return f
	}
	if base, ok := trimSuffixes(name, "_count", "_sum"); ok {
		if f := p.lookup(base); f != nil && f.Type == "summary" {
			return f
		}
	}
	if base, ok := trimSuffixes(name, "_count", "_sum", "_bucket"); ok {
		if f := p.lookup(base); f != nil && (f.Type == "histogram" || f.Type == "gauge_histogram") {
			return f
		}
	}
	f := &Family{}
	p.fams[name] = f
	return f
}

func (p *promLine) lookup(name string) *Family { return p.fams[name] }

// trimSuffixes strips the first of suffixes that name ends with, leaving a
// non-empty base.
func trimSuffixes(name string, suffixes ...string) (string, bool) {
	for _, s := range suffixes {
		if len(name) > len(s) && strings.HasSuffix(name, s) {
			return name[:len(name)-len(s)], true
		}
	}
	return name, false
}

// untilWhitespace reads from the current byte up to a blank or the end.
func (p *promLine) untilWhitespace() string {
	start := p.i
	for p.i < len(p.b) && !isBlankOrTab(p.b[p.i]) {
		p.i++
	}
	return string(p.b[start:p.i])
}

func isLabelNameStart(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_' || b == '"'
}

// metricName reads a metric name, bare or quoted, from the current byte;
// "" when the current byte cannot start one.
func (p *promLine) metricName() (string, error) {
	return p.name(func(b byte) bool { return isLabelNameStart(b) || b == ':' },
		func(b byte) bool { return isLabelNameStart(b) || (b >= '0' && b <= '9') || b == ':' }, ' ')
}

// labelName reads a label name (or, inside braces, a metric name).
func (p *promLine) labelName() (string, error) {
	return p.name(isLabelNameStart,
		func(b byte) bool { return isLabelNameStart(b) || (b >= '0' && b <= '9') }, '=')
}

// name is expfmt's readTokenAsMetricName and readTokenAsLabelName: a bare
// token stops at the first byte that cannot continue it; inside quotes
// any byte continues it, with \\, \n and \" escapes.
func (p *promLine) name(start, cont func(byte) bool, stop byte) (string, error) {
	if p.i >= len(p.b) || !start(p.b[p.i]) {
		return "", nil
	}
	var tok []byte
	quoted, escaped := false, false
	for {
		c := p.b[p.i]
		switch {
		case escaped:
			switch c {
			case '\\', '"':
				tok = append(tok, c)
			case 'n':
				tok = append(tok, '\n')
			default:
				return "", fmt.Errorf("invalid escape sequence")
			}
			escaped = false
		case c == '"':
			quoted = !quoted
			if !quoted {
				p.i++
				return string(tok), nil
			}
		case c == '\\':
			escaped = true
		default:
			tok = append(tok, c)
		}
		p.i++
		if p.i >= len(p.b) {
			if quoted {
				return "", fmt.Errorf("unterminated quoted name")
			}
			return string(tok), nil
		}
		if next := p.b[p.i]; !(quoted || cont(next)) || (!quoted && next == stop) {
			return string(tok), nil
		}
	}
}

// labelValue reads a quoted label value (the current byte is its opening
// quote) up to its closing quote; the value itself is not kept.
func (p *promLine) labelValue() error {
	escaped := false
	for p.i++; p.i < len(p.b); p.i++ {
		c := p.b[p.i]
		if escaped {
			if c != '"' && c != '\\' && c != 'n' {
				return fmt.Errorf("invalid escape sequence in label value")
			}
			escaped = false
			continue
		}
		switch c {
		case '"':
			return nil
		case '\\':
			escaped = true
		}
	}
	return fmt.Errorf("unterminated label value")
}

// unescape is expfmt's readTokenUntilNewline: with escapes, \\, \n and \"
// are read and any other is an error; without, a backslash is dropped.
func unescape(b []byte, escapes bool) (string, error) {
	var out []byte
	escaped := false
	for _, c := range b {
		switch {
		case escaped && escapes:
			switch c {
			case '\\', '"':
				out = append(out, c)
			case 'n':
				out = append(out, '\n')
			default:
				return "", fmt.Errorf("invalid escape sequence")
			}
			escaped = false
		case c == '\\':
			escaped = true
		default:
			out = append(out, c)
		}
	}
	return string(out), nil
}

// validName is expfmt's UTF-8 validation of a metric name.
func validName(name string) bool { return name != "" && utf8.ValidString(name) }

// parseFloat is expfmt's: strconv's syntax without hexadecimal floats or
// underscores.
func parseFloat(s string) (float64, error) {
	if strings.ContainsAny(s, "pP_") {
		return 0, fmt.Errorf("unsupported character in float")
	}
	return strconv.ParseFloat(s, 64)
}

// HasPrefix reports whether any family's name starts with prefix (vLLM's
// "vllm:", llama-server's "llamacpp:").
func (f Families) HasPrefix(prefix string) bool {
	for name := range f {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// Sum adds the samples of the first family in names that exists (a
// server exports one per engine or per model); nil when none exists or
// none has a finite value. Absent is not zero.
func (f Families) Sum(names ...string) *float64 {
	return f.reduce(names, func(a, b float64) float64 { return a + b })
}

// Max is Sum's counterpart for ratios (a KV cache is as full as its
// fullest engine).
func (f Families) Max(names ...string) *float64 {
	return f.reduce(names, math.Max)
}

func (f Families) reduce(names []string, op func(a, b float64) float64) *float64 {
	for _, name := range names {
		fam, ok := f[name]
		if !ok {
			continue
		}
		var acc *float64
		for _, v := range fam.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if acc == nil {
				acc = float(v)
			} else {
				*acc = op(*acc, v)
			}
		}
		if acc != nil {
			return acc
		}
	}
	return nil
}

// families fetches and parses /metrics. A 404 (llama-server without
// --metrics answers 501 or 404) is "not exported": empty Families, no error.
func (h httpGetter) families(ctx context.Context) (Families, bool, error) {
	resp, err := h.get(ctx, "/metrics", maxMetricsBody)
	if err != nil {
		return nil, false, err
	}
	if resp.status != 200 {
		return Families{}, false, nil
	}
	if _, isErr := errorText(resp.body); isErr {
		// LM Studio's 200-with-error, or a JSON error: nothing exported.
		return Families{}, false, nil
	}
	fams, err := ParsePrometheus(resp.body)
	if err != nil {
		return nil, false, err
	}
	return fams, true, nil
}
