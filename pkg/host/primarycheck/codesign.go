package primarycheck

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
)

// Codesign runs `codesign --verify --strict [-R=<requirement>] <binary>`.
// The argv building and the reading of codesign's answer live here,
// untagged, so they are tested on Linux against a fake codesign; only the
// choice of this verifier is darwin-only (signature_darwin.go).
type Codesign struct {
	// Path is the codesign binary (--codesign).
	Path string
	// Requirement pins the signer (--codesign-requirement): a designated
	// requirement in codesign's language, or a bare 10-character Team ID,
	// which is expanded by TeamRequirement. Empty verifies the signature
	// against its own designated requirement only, which an ad-hoc
	// re-sign satisfies.
	Requirement string
	// Exec runs a command by argv; default launchctl.ExecCommand (no
	// shell, combined output, exit code).
	Exec func(ctx context.Context, path string, args []string) ([]byte, int, error)
}

// Reasons codesign gives, for errors.Is.
var (
	// ErrCodesignInvalid: codesign exit 1, the signature does not verify
	// (modified, truncated, unsigned, revoked).
	ErrCodesignInvalid = errors.New("codesign: signature invalid")
	// ErrRequirementUnsatisfied: codesign exit 3, validly signed but not
	// by who the requirement names (an ad-hoc or foreign re-sign).
	ErrRequirementUnsatisfied = errors.New("codesign: signature does not satisfy the requirement")
)

var teamID = regexp.MustCompile(`^[A-Z0-9]{10}$`)

// TeamRequirement turns a bare Team ID into the requirement "signed by a
// certificate Apple issued to this team"; anything else is returned as is.
func TeamRequirement(req string) string {
	req = strings.TrimSpace(req)
	if teamID.MatchString(req) {
		return fmt.Sprintf(`anchor apple generic and certificate leaf[subject.OU] = "%s"`, req)
	}
	return req
}

// Args is the argv (after the program name) that verifies binary. The
// requirement is passed as -R=<text>: codesign reads an -R value starting
// with "=" as the requirement's text rather than a file name. The binary
// path is made absolute so it can never be read as an option.
func (c *Codesign) Args(binary string) []string {
	args := []string{"--verify", "--strict"}
	if r := TeamRequirement(c.Requirement); r != "" {
		args = append(args, "-R="+r)
	}
	if abs, err := filepath.Abs(binary); err == nil {
		binary = abs
	}
	return append(args, binary)
}

// Verify runs codesign and maps its exit status: 0 valid, 1 invalid, 3
// requirement not satisfied; 2 (bad usage or requirement syntax) and a
// codesign that cannot run are configuration errors.
func (c *Codesign) Verify(ctx context.Context, binary string) error {
	path := c.Path
	if path == "" {
		path = "codesign"
	}
	run := c.Exec
	if run == nil {
		run = launchctl.ExecCommand
	}
	args := c.Args(binary)
	out, code, err := run(ctx, path, args)
	return codesignResult(path, args, out, code, err)
}

// codesignResult turns one codesign run into the check's error.
func codesignResult(path string, args []string, out []byte, code int, err error) error {
	msg := FirstLines(string(out), 3)
	switch {
	case err != nil:
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("codesign: %w", err)
		}
		return &ConfigError{Err: fmt.Errorf("run %s: %w", path, err)}
	case code == 0:
		return nil
	case code == 1:
		return fmt.Errorf("%w (exit 1): %s", ErrCodesignInvalid, msg)
	case code == 3:
		return fmt.Errorf("%w (exit 3): %s", ErrRequirementUnsatisfied, msg)
	default:
		return &ConfigError{Err: fmt.Errorf("%s %s: exit %d: %s", path, strings.Join(args, " "), code, msg)}
	}
}

// FirstLines keeps the first n non-empty lines of s joined by " / ", so a
// multi-line answer of an external tool (codesign, lsof) fits one event
// field.
func FirstLines(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, l)
		}
		if len(keep) == n {
			break
		}
	}
	if len(keep) == 0 {
		return "(no output)"
	}
	return strings.Join(keep, " / ")
}

// Describe names the method and the pinned requirement.
func (c *Codesign) Describe() string {
	if r := TeamRequirement(c.Requirement); r != "" {
		return "codesign -R=" + r
	}
	return "codesign (unpinned)"
}
