package plists

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"howett.net/plist"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/host/secretscan"
)

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid plist")

// ErrNoPlutil is returned by PlutilLint where plutil does not exist (any
// system but macOS): lint is skipped, the parser check still ran.
var ErrNoPlutil = errors.New("plutil not found on PATH")

// Secret is a value that must appear in no rendered file
// (secretscan.Read finds the bearer token's).
type Secret = secretscan.Secret

// agentKeys are the keys a probe plist may hold; fallbackKeys the fallback
// server's. Anything else is a typo launchd would silently ignore.
var (
	agentKeys = keySet("Label", "ProgramArguments", "StartInterval", "StartCalendarInterval",
		"RunAtLoad", "ProcessType", "StandardOutPath", "StandardErrorPath", "EnvironmentVariables")
	fallbackKeys = keySet("Label", "ProgramArguments", "RunAtLoad", "Disabled", "KeepAlive",
		"StandardOutPath", "StandardErrorPath", "EnvironmentVariables", "WorkingDirectory")
	// envKeys are the only EnvironmentVariables allowed: nothing secret.
	envKeys = keySet("HOME", "PATH")
)

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// agent is the part of a launchd plist that validation reads.
type agent struct {
	Label                 string            `plist:"Label"`
	ProgramArguments      []string          `plist:"ProgramArguments"`
	StartInterval         *int              `plist:"StartInterval"`
	StartCalendarInterval *Calendar         `plist:"StartCalendarInterval"`
	RunAtLoad             *bool             `plist:"RunAtLoad"`
	KeepAlive             any               `plist:"KeepAlive"`
	Disabled              *bool             `plist:"Disabled"`
	ProcessType           string            `plist:"ProcessType"`
	StandardOutPath       string            `plist:"StandardOutPath"`
	StandardErrorPath     string            `plist:"StandardErrorPath"`
	EnvironmentVariables  map[string]string `plist:"EnvironmentVariables"`
}

var (
	commentRE = regexp.MustCompile(`(?s)<!--(.*?)-->`)
)

// Validate checks a rendered plist: it must parse as an XML plist with a
// real parser and hold exactly what its Job says (label, program, schedule,
// RunAtLoad, log paths, ProcessType; the fallback discipline for the
// fallback), no key launchd would not know, no EnvironmentVariables but
// HOME/PATH, and none of secrets anywhere in the file. Every problem found
// is reported, joined, each wrapping ErrInvalid.
func Validate(r Rendered, secrets []Secret) error {
	j := r.Job
	var errs []error
	bad := func(format string, args ...any) {
		// A message quotes values; never let it carry a secret out.
		msg := secretscan.Redact(fmt.Sprintf(format, args...), secrets)
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, j.FileName(), msg))
	}
	validateBytes(r.Data, secrets, bad)
	var raw map[string]any
	format, err := plist.Unmarshal(r.Data, &raw)
	if err != nil {
		bad("parse: %v", err)
		return errors.Join(errs...)
	}
	validateRaw(raw, format, j.Fallback, bad)
	var a agent
	if _, err := plist.Unmarshal(r.Data, &a); err != nil {
		bad("decode: %v", err)
		return errors.Join(errs...)
	}
	validateAgent(a, j, bad)
	if j.Fallback {
		validateFallback(a, bad)
	} else {
		validateProbe(a, j, bad)
	}
	return errors.Join(errs...)
}

// validateBytes checks the file as text, before it is parsed: no secret
// (as it is, or XML-escaped) and no XML comment that is not well-formed.
func validateBytes(data []byte, secrets []Secret, bad func(string, ...any)) {
	for _, s := range secrets {
		if s.Value != "" && (bytes.Contains(data, []byte(s.Value)) || bytes.Contains(data, []byte(mustEscape(s.Value)))) {
			bad("contains %s", s.Name)
		}
	}
	for _, m := range commentRE.FindAllSubmatch(data, -1) {
		if c := m[1]; bytes.Contains(c, []byte("--")) || bytes.HasSuffix(c, []byte("-")) {
			bad("XML comment contains \"--\" (not well-formed)")
		}
	}
}

// validateRaw checks the parsed plist: XML, only the keys an agent (or
// the fallback) may have, and no value that looks like a credential.
func validateRaw(raw map[string]any, format int, fallback bool, bad func(string, ...any)) {
	if format != plist.XMLFormat {
		bad("format is %s, want XML", plist.FormatNames[format])
	}
	allowed := agentKeys
	if fallback {
		allowed = fallbackKeys
	}
	for _, k := range sortedKeys(raw) {
		if !allowed[k] {
			bad("unexpected key %q", k)
		}
	}
	walkStrings(raw, func(s string) {
		if secretscan.LooksLikeCredential(s) {
			bad("a value looks like a credential")
		}
	})
}

// validateAgent checks what every agent holds against its Job: label,
// program, log paths (absolute, apart, never the probe's own JSON log),
// environment (HOME and PATH only) and RunAtLoad, set deliberately.
func validateAgent(a agent, j Job, bad func(string, ...any)) {
	if a.Label != j.Label {
		bad("Label is %q, want %q", a.Label, j.Label)
	}
	if err := launchctl.ValidateLabel(a.Label); err != nil {
		bad("%v", err)
	}
	if !slices.Equal(a.ProgramArguments, j.ProgramArguments) {
		bad("ProgramArguments are %q, want %q", a.ProgramArguments, j.ProgramArguments)
	}
	if len(a.ProgramArguments) == 0 || !filepath.IsAbs(a.ProgramArguments[0]) {
		bad("ProgramArguments[0] must be an absolute path")
	}
	for key, p := range map[string]string{"StandardOutPath": a.StandardOutPath, "StandardErrorPath": a.StandardErrorPath} {
		if !filepath.IsAbs(p) {
			bad("%s %q is not absolute", key, p)
		}
		if j.ProbeLog != "" && p == j.ProbeLog {
			bad("%s is the probe's own JSON-lines log %q", key, p)
		}
	}
	if a.StandardOutPath != j.StandardOutPath {
		bad("StandardOutPath is %q, want %q", a.StandardOutPath, j.StandardOutPath)
	}
	if a.StandardErrorPath != j.StandardErrorPath {
		bad("StandardErrorPath is %q, want %q", a.StandardErrorPath, j.StandardErrorPath)
	}
	if a.StandardOutPath == a.StandardErrorPath {
		bad("StandardOutPath and StandardErrorPath are the same file")
	}
	for _, k := range sortedKeys(a.EnvironmentVariables) {
		if !envKeys[k] {
			bad("EnvironmentVariables holds %q: only HOME and PATH belong in a world-readable plist", k)
		}
	}
	if a.RunAtLoad == nil {
		bad("RunAtLoad is not set: it must be set deliberately")
	} else if *a.RunAtLoad != j.RunAtLoad {
		bad("RunAtLoad is %t, want %t", *a.RunAtLoad, j.RunAtLoad)
	}
}

func validateProbe(a agent, j Job, bad func(string, ...any)) {
	switch {
	case j.StartInterval > 0 && a.StartInterval == nil:
		bad("StartInterval is missing, want %d", j.StartInterval)
	case j.StartInterval > 0 && *a.StartInterval != j.StartInterval:
		bad("StartInterval is %d, want %d", *a.StartInterval, j.StartInterval)
	case j.StartInterval == 0 && a.StartInterval != nil:
		bad("StartInterval is %d, want none", *a.StartInterval)
	}
	switch {
	case j.StartCalendarInterval != nil && a.StartCalendarInterval == nil:
		bad("StartCalendarInterval is missing, want %+v", *j.StartCalendarInterval)
	case j.StartCalendarInterval != nil && *a.StartCalendarInterval != *j.StartCalendarInterval:
		bad("StartCalendarInterval is %+v, want %+v", *a.StartCalendarInterval, *j.StartCalendarInterval)
	case j.StartCalendarInterval == nil && a.StartCalendarInterval != nil:
		bad("StartCalendarInterval is %+v, want none", *a.StartCalendarInterval)
	}
	if a.ProcessType != "Background" {
		bad("ProcessType is %q, want Background", a.ProcessType)
	}
}

// validateFallback enforces the fallback discipline of incident I5 in
// docs/DESIGN.md: do not start
// unless told to, but once told, persist.
func validateFallback(a agent, bad func(string, ...any)) {
	if a.RunAtLoad != nil && *a.RunAtLoad {
		bad("fallback has RunAtLoad=true: it would start at login and race the primary")
	}
	if a.Disabled == nil || !*a.Disabled {
		bad("fallback must carry Disabled=true")
	}
	if ka, ok := a.KeepAlive.(bool); !ok || !ka {
		bad("fallback must carry KeepAlive=true (stay up once promoted)")
	}
	if a.ProcessType == "Background" {
		bad("fallback must not be ProcessType Background: a serving process is not throttled")
	}
}

// PlutilLint runs `plutil -lint path` where plutil exists; elsewhere it
// returns ErrNoPlutil.
func PlutilLint(ctx context.Context, path string) error {
	bin, err := exec.LookPath("plutil")
	if err != nil {
		return ErrNoPlutil
	}
	out, err := exec.CommandContext(ctx, bin, "-lint", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: plutil -lint %s: %v: %s", ErrInvalid, path, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func mustEscape(s string) string {
	e, err := xmlEscape(s)
	if err != nil {
		return s
	}
	return e
}

func walkStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	case map[string]any:
		for k, e := range v {
			fn(k)
			walkStrings(e, fn)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
