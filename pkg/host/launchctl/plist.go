package launchctl

import (
	"errors"
	"fmt"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/host/service"
	"howett.net/plist"
)

// ErrLabelMismatch is returned when a plist's Label is not the label a
// recipe was asked to load: bootstrapping it would load some other service.
var ErrLabelMismatch = errors.New("plist label mismatch")

// PlistLabel reads the Label key of the launchd plist at path (XML or
// binary).
func PlistLabel(path string) (string, error) {
	b, err := atomicfile.ReadRegular(path, service.MaxPlist)
	if err != nil {
		return "", fmt.Errorf("plist: %w", err)
	}
	var p struct {
		Label string `plist:"Label"`
	}
	if _, err := plist.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("plist %s: %w", path, err)
	}
	if p.Label == "" {
		return "", fmt.Errorf("plist %s: no Label", path)
	}
	return p.Label, nil
}

// checkPlist makes sure plistPath exists and is the plist of label before a
// recipe runs anything.
func checkPlist(plistPath, label string) error {
	got, err := PlistLabel(plistPath)
	if err != nil {
		return err
	}
	if got != label {
		return fmt.Errorf("%w: %s has Label %q, want %q", ErrLabelMismatch, plistPath, got, label)
	}
	return nil
}
