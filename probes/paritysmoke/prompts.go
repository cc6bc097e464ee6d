package paritysmoke

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// Limits of a prompt file. They keep a typo (a weights file passed as
// --prompts) from turning into a multi-gigabyte parse, and a nightly run
// bounded.
const (
	maxFileBytes    = 1 << 20
	maxPrompts      = 200
	maxPromptBytes  = 32 << 10
	maxTokensLimit  = 8192
	maxExpectations = 32
	maxIDLen        = 64
	maxRegexLen     = 1024
	maxObservedLen  = 4096
	maxNoteLen      = 4096
	schemaVersion   = 1
)

//go:embed prompts/default.json
var defaultPrompts []byte

// builtinPrompts returns the prompt file shipped inside the binary.
func builtinPrompts() []byte { return append([]byte(nil), defaultPrompts...) }

// promptSet is a prompt file (see the package documentation for the schema).
type promptSet struct {
	Version int      `json:"version"`
	Note    string   `json:"note,omitempty"`
	Prompts []prompt `json:"prompts"`
}

// prompt is one golden prompt and what its answer must contain.
type prompt struct {
	ID          string   `json:"id"`
	Prompt      string   `json:"prompt"`
	MaxTokens   int      `json:"max_tokens"`
	Expect      []string `json:"expect,omitempty"`
	ExpectRegex string   `json:"expect_regex,omitempty"`
	// FinishReason is how the answer must end: "stop" (the default, when
	// empty), "length" (the prompt is meant to be cut by max_tokens) or
	// "any" (not judged).
	FinishReason string `json:"finish_reason,omitempty"`
	// Observed is the answer seen when the file was recorded, kept for the
	// operator's review; checks ignore it.
	Observed string `json:"observed,omitempty"`

	re *regexp.Regexp
}

// Regexp is the compiled ExpectRegex (nil when there is none).
func (p prompt) Regexp() *regexp.Regexp { return p.re }

// Finish is the finish_reason the answer must end with: FinishReason, or
// "stop".
func (p prompt) Finish() string {
	if p.FinishReason == "" {
		return finishStop
	}
	return p.FinishReason
}

// parseError is one problem in a prompt file, with the position of the
// value it concerns (1-based line and column) and the field path.
type parseError struct {
	File      string
	Line, Col int
	Field     string // e.g. prompts[3].max_tokens; empty for syntax errors
	Msg       string
}

func (e *parseError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Col)
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// loadPrompts reads and validates the prompt file at path; an empty path
// means the set embedded in the binary.
func loadPrompts(path string) (*promptSet, error) {
	if path == "" {
		return parsePrompts("(embedded default)", defaultPrompts)
	}
	f, err := atomicfile.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("read prompt file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read prompt file %s: %w", path, err)
	}
	return parsePrompts(path, data)
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// parsePrompts parses and validates a prompt file. name labels positions in
// errors. A syntax or type error stops the parse; validation problems are
// all reported, joined, each as a *ParseError.
func parsePrompts(name string, data []byte) (*promptSet, error) {
	if len(data) > maxFileBytes {
		return nil, &parseError{File: name, Line: 1, Col: 1, Msg: fmt.Sprintf("file is larger than %d bytes", maxFileBytes)}
	}
	if !utf8.Valid(data) {
		off := firstInvalidUTF8(data)
		line, col := position(data, off)
		return nil, &parseError{File: name, Line: line, Col: col, Msg: "invalid UTF-8"}
	}
	p := &parser{name: name, data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.DisallowUnknownFields()
	set, err := p.parse()
	if err != nil {
		return nil, err
	}
	if errs := p.validate(set); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

type parser struct {
	name string
	data []byte
	dec  *json.Decoder
	// starts are the byte offsets of each prompt object, for errors.
	starts   []int
	fieldPos map[string]int
}

func (p *parser) errAt(off int, field, format string, args ...any) *parseError {
	line, col := position(p.data, off)
	return &parseError{File: p.name, Line: line, Col: col, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// next is the offset of the next token: the decoder's offset past any
// whitespace, ':' and ','.
func (p *parser) next() int {
	off := int(p.dec.InputOffset())
	for off < len(p.data) && strings.IndexByte(" \t\r\n,:", p.data[off]) >= 0 {
		off++
	}
	return off
}

// jsonErr turns a decoder error into a positioned ParseError. base is the
// offset of the value being decoded (type errors are relative to it).
func (p *parser) jsonErr(err error, base int, field string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return p.errAt(int(se.Offset), field, "%s", strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te):
		f, at := field, base
		if te.Field != "" {
			f = joinField(field, te.Field)
			// Point at the field's key when it can be found.
			key := te.Field[strings.LastIndexByte(te.Field, '.')+1:]
			if i := bytes.Index(p.data[base:], []byte(`"`+key+`"`)); i >= 0 {
				at = base + i
			}
		}
		return p.errAt(at, f, "must be %s, not a JSON %s", kindName(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return p.errAt(len(p.data), field, "unexpected end of file")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field ") {
		// Point at the offending key, not at the start of its object.
		key := strings.TrimPrefix(msg, "unknown field ")
		if i := bytes.Index(p.data[base:], []byte(key)); i >= 0 {
			return p.errAt(base+i, field, "%s (known: id, prompt, max_tokens, expect, expect_regex, finish_reason, observed)", msg)
		}
	}
	return p.errAt(base, field, "%s", msg)
}

func kindName(k string) string {
	switch k {
	case "int", "int64":
		return "an integer"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a " + k
}

func joinField(prefix, f string) string {
	if prefix == "" {
		return f
	}
	return prefix + "." + f
}

func (p *parser) delim(want json.Delim, field, what string) error {
	off := p.next()
	tok, err := p.dec.Token()
	if err != nil {
		return p.jsonErr(err, off, field)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return p.errAt(off, field, "must be %s", what)
	}
	return nil
}

func (p *parser) parse() (*promptSet, error) {
	set := &promptSet{}
	if err := p.delim('{', "", "a JSON object with \"version\" and \"prompts\""); err != nil {
		return nil, err
	}
	p.fieldPos = map[string]int{}
	for p.dec.More() {
		off := p.next()
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.jsonErr(err, off, "")
		}
		key, _ := tok.(string)
		if _, dup := p.fieldPos[key]; dup {
			return nil, p.errAt(off, key, "set twice")
		}
		p.fieldPos[key] = off
		voff := p.next()
		switch key {
		case "version":
			if err := p.dec.Decode(&set.Version); err != nil {
				return nil, p.jsonErr(err, voff, key)
			}
		case "note":
			if err := p.dec.Decode(&set.Note); err != nil {
				return nil, p.jsonErr(err, voff, key)
			}
		case "prompts":
			if err := p.parsePrompts(set); err != nil {
				return nil, err
			}
		default:
			return nil, p.errAt(off, "", "unknown field %q (known: version, note, prompts)", key)
		}
	}
	if err := p.delim('}', "", "the end of the object"); err != nil {
		return nil, err
	}
	if off := p.next(); off < len(p.data) {
		return nil, p.errAt(off, "", "unexpected data after the top-level object")
	}
	return set, nil
}

func (p *parser) parsePrompts(set *promptSet) error {
	if err := p.delim('[', "prompts", "an array of prompt objects"); err != nil {
		return err
	}
	for p.dec.More() {
		i := len(set.Prompts)
		field := fmt.Sprintf("prompts[%d]", i)
		off := p.next()
		if off < len(p.data) && p.data[off] != '{' {
			return p.errAt(off, field, "must be an object with id, prompt, max_tokens and expect or expect_regex")
		}
		if i >= maxPrompts {
			return p.errAt(off, field, "too many prompts (at most %d)", maxPrompts)
		}
		var pr prompt
		if err := p.dec.Decode(&pr); err != nil {
			return p.jsonErr(err, off, field)
		}
		set.Prompts = append(set.Prompts, pr)
		p.starts = append(p.starts, off)
	}
	return p.delim(']', "prompts", "the end of the prompts array")
}

// validate checks the decoded set against the schema's rules and compiles
// the regexes.
func (p *parser) validate(set *promptSet) []error {
	var errs []error
	bad := func(off int, field, format string, args ...any) {
		errs = append(errs, p.errAt(off, field, format, args...))
	}
	if off, ok := p.fieldPos["version"]; !ok {
		bad(0, "version", "missing (want %d)", schemaVersion)
	} else if set.Version != schemaVersion {
		bad(off, "version", "unsupported version %d (want %d)", set.Version, schemaVersion)
	}
	if len(set.Note) > maxNoteLen {
		bad(p.fieldPos["note"], "note", "longer than %d bytes", maxNoteLen)
	}
	if len(set.Prompts) == 0 {
		off, ok := p.fieldPos["prompts"]
		if !ok {
			off = 0
		}
		bad(off, "prompts", "at least one prompt is required")
	}
	seen := map[string]int{}
	for i := range set.Prompts {
		p.validatePrompt(&set.Prompts[i], i, seen, bad)
	}
	return errs
}

// validatePrompt checks the i-th prompt, compiling its regex; seen holds
// the ids of the prompts before it (a duplicate is named with the line of
// the first).
func (p *parser) validatePrompt(pr *prompt, i int, seen map[string]int, bad func(off int, field, format string, args ...any)) {
	off := p.starts[i]
	field := fmt.Sprintf("prompts[%d]", i)
	if pr.ID != "" {
		field = fmt.Sprintf("prompts[%d] (%s)", i, printable(pr.ID, maxIDLen))
	}
	switch {
	case pr.ID == "":
		bad(off, field+".id", "missing")
	case len(pr.ID) > maxIDLen || !idRE.MatchString(pr.ID):
		bad(off, field+".id", "must be 1-%d characters of A-Z a-z 0-9 . _ - starting with a letter or digit", maxIDLen)
	default:
		if first, dup := seen[pr.ID]; dup {
			line, _ := position(p.data, p.starts[first])
			bad(off, field+".id", "duplicate id (first used at line %d)", line)
		}
		seen[pr.ID] = i
	}
	switch {
	case strings.TrimSpace(pr.Prompt) == "":
		bad(off, field+".prompt", "missing or blank")
	case len(pr.Prompt) > maxPromptBytes:
		bad(off, field+".prompt", "longer than %d bytes", maxPromptBytes)
	}
	if pr.MaxTokens < 1 || pr.MaxTokens > maxTokensLimit {
		what := fmt.Sprintf("is %d", pr.MaxTokens)
		if pr.MaxTokens == 0 {
			what = "is missing"
		}
		bad(off, field+".max_tokens", "%s; want 1 to %d", what, maxTokensLimit)
	}
	if len(pr.Expect) == 0 && pr.ExpectRegex == "" {
		bad(off, field, "needs expect (substrings) or expect_regex")
	}
	if len(pr.Expect) > maxExpectations {
		bad(off, field+".expect", "more than %d substrings", maxExpectations)
	}
	for j, s := range pr.Expect {
		if strings.TrimSpace(s) == "" {
			bad(off, fmt.Sprintf("%s.expect[%d]", field, j), "blank substring matches everything")
		}
	}
	if pr.ExpectRegex != "" {
		if len(pr.ExpectRegex) > maxRegexLen {
			bad(off, field+".expect_regex", "longer than %d bytes", maxRegexLen)
		} else if re, err := regexp.Compile(pr.ExpectRegex); err != nil {
			bad(off, field+".expect_regex", "%v", err)
		} else if re.MatchString("") {
			bad(off, field+".expect_regex", "matches the empty answer, so it checks nothing")
		} else {
			pr.re = re
		}
	}
	switch pr.FinishReason {
	case "", finishStop, finishLength, finishAny:
	default:
		bad(off, field+".finish_reason", "is %q; want %s, %s or %s", printable(pr.FinishReason, 20), finishStop, finishLength, finishAny)
	}
	if len(pr.Observed) > maxObservedLen {
		bad(off, field+".observed", "longer than %d bytes", maxObservedLen)
	}
}

// marshalPrompts renders set as the indented JSON of a prompt file.
func marshalPrompts(set *promptSet) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(set); err != nil {
		return nil, fmt.Errorf("marshal prompt file: %w", err)
	}
	return b.Bytes(), nil
}

// position converts a byte offset into a 1-based line and column (in
// runes).
func position(data []byte, off int) (line, col int) {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[lineStart:]) + 1
}

func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(data)
}

// printable renders s for a terminal or a log line: control and invisible
// characters are escaped, and it is cut to max runes with an ellipsis.
func printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for i, r := range s {
		if n >= max {
			if i < len(s) {
				b.WriteString("…")
			}
			break
		}
		n++
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r == ' ' || (unicode.IsGraphic(r) && !unicode.Is(unicode.Cf, r)):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}
