// Package secretscan keeps the probes' secrets out of the files the
// installers render (LaunchAgent plists, systemd units): those files are
// world-readable, so the bearer token must not be in one, nor in an error
// that quotes one.
package secretscan

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/host/paths"
)

// Secret is a value that must appear in no rendered file. Name says where
// it came from, for the error; Value is never printed.
type Secret struct {
	Name  string
	Value string
}

// MinLen is the shortest secret worth searching for; a shorter one would
// match by accident (and is no real token).
const MinLen = 8

// maxTokenFile bounds the read of the token file: a token is a line.
const maxTokenFile = 64 << 10

// Read returns the bearer token of home's default token file, if there is
// one. A missing file means no secret to look for.
func Read(home string) ([]Secret, error) {
	path := paths.Home(home).TokenFile()
	b, err := atomicfile.ReadRegular(path, maxTokenFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secrets: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinLen {
		return nil, nil
	}
	return []Secret{{Name: "the bearer token in " + path, Value: tok}}, nil
}

// Redact returns msg with every secret's value replaced: a validation
// message quotes values, and must never carry a secret out.
func Redact(msg string, secrets []Secret) string {
	for _, s := range secrets {
		if s.Value != "" {
			msg = strings.ReplaceAll(msg, s.Value, "[redacted]")
		}
	}
	return msg
}

// credentialRE finds credentials spelled into a value.
var credentialRE = regexp.MustCompile(`(?i)\bbearer\s+\S|\bauthorization\b|\b(api[_-]?key|token|password|secret)=\S`)

// LooksLikeCredential reports whether a rendered value spells out a
// credential (a bearer header, an api_key=, a token=...).
func LooksLikeCredential(v string) bool { return credentialRE.MatchString(v) }
