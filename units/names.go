package units

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrInvalidName is returned for a unit or user name that is not plainly
// valid: it ends up in the polkit rule's JavaScript or a loginctl argv.
var ErrInvalidName = errors.New("invalid name")

var (
	// unitRE is a service unit name without systemd's "\x2d" escapes:
	// letters, digits, ":", "_", ".", "-" and at most one "@", not starting
	// with "-" or "." (systemd.unit(5)).
	unitRE = regexp.MustCompile(`^[A-Za-z0-9:_][A-Za-z0-9:_.-]*(@[A-Za-z0-9:_.-]*)?\.service$`)
	// userRE is a POSIX-portable login name, as useradd accepts by default.
	userRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)
	// nameChars is what name lets into a comment: the union of the two.
	nameChars = regexp.MustCompile(`^[A-Za-z0-9:_.@-]+$`)
)

// ValidateUnitName returns the service unit name of unit, completed the
// way systemctl completes it: a name without a unit type's suffix gets
// ".service" ("ollama" and "llama.cpp" become "ollama.service" and
// "llama.cpp.service"). Another unit type, an escape, a quote, a space or a
// name over 255 bytes is refused.
func ValidateUnitName(unit string) (string, error) {
	suffix := unit[strings.LastIndexByte(unit, '.')+1:]
	if !strings.Contains(unit, ".") || !unitTypes[suffix] {
		unit += ".service"
	}
	if len(unit) > 255 || !unitRE.MatchString(unit) {
		return "", fmt.Errorf("%w: %q is not a service unit name (letters, digits, \":_.-\", one \"@\", ending in .service)", ErrInvalidName, unit)
	}
	return unit, nil
}

// unitTypes are the suffixes of systemd's unit types (systemd.unit(5)).
var unitTypes = map[string]bool{
	"service": true, "socket": true, "device": true, "mount": true, "automount": true, "swap": true,
	"target": true, "path": true, "timer": true, "slice": true, "scope": true,
}

// ValidateUserName refuses anything but a portable login name of at most
// 32 bytes.
func ValidateUserName(user string) error {
	if len(user) > 32 || !userRE.MatchString(user) {
		return fmt.Errorf("%w: %q is not a login name (a-z, 0-9, \"_\", \"-\", starting with a letter or \"_\", at most 32 bytes)", ErrInvalidName, user)
	}
	return nil
}
