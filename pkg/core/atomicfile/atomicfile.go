// Package atomicfile writes files so that a reader never sees half of one:
// the bytes go to a temporary file in the same directory, which is synced
// and then renamed over the target. A crash leaves either the old file or
// the new one, never a torn mix. State, outbox, metrics and lock files are
// all written this way.
//
// OpenFile and ReadFile are how a probe opens its own files: never through
// a symlink, never blocking on a FIFO, regular files only, reads bounded.
// OpenRegular and ReadRegular are how it opens a file the operator names
// (a config, a map, a plist, a manifest): the same, but through a symlink.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data, with the given mode. The
// directory is created (mode 0700) if needed.
func WriteFile(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, tempErr(err))
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, tempErr(err))
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, tempErr(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, tempErr(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, tempErr(err))
	}
	// Sync the directory so the rename itself survives a power cut.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// tempErr drops the temp file's random name from an error, so the same
// failure (a full disk, a read-only dir) reads the same on every tick and
// an alert quoting it deduplicates. errors.Is still sees the cause.
func tempErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s temp file: %w", pe.Op, pe.Err)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("%s temp file: %w", le.Op, le.Err)
	}
	return err
}
