package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Errors of OpenFile and ReadFile, checked with errors.Is.
var (
	// ErrSymlink: the path is a symbolic link, which is never followed (an
	// O_CREAT through a planted link would create its target anywhere).
	ErrSymlink = errors.New("is a symlink; refusing to follow it")
	// ErrNotRegular: the path is a directory, a FIFO, a device or a socket.
	// A FIFO would block its reader forever.
	ErrNotRegular = errors.New("is not a regular file")
	// ErrTooLarge: the file is larger than the caller's limit; it was not read.
	ErrTooLarge = errors.New("is larger than the limit")
)

// OpenFile opens one of a probe's own files (lock, state, outbox, log) the
// way nothing can make it block or wander: it never follows a symlink
// (O_NOFOLLOW), never waits on a FIFO (O_NONBLOCK), and returns the file
// only if what it opened is a regular file. flag and perm are as for
// os.OpenFile.
func OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	return open(path, flag|unix.O_NOFOLLOW, perm)
}

// OpenRegular opens a file the operator named (a config file, a plist, a
// drift map, a manifest, a pid file, a prompt file, a server's log) for
// reading. A symlink is followed (dotfile managers link such files), but
// a FIFO never blocks the reader (O_NONBLOCK: an open that waits for a
// writer hangs the tick, and SIGTERM cannot end it), and only a regular
// file is returned (ErrNotRegular otherwise).
func OpenRegular(path string) (*os.File, error) {
	return open(path, os.O_RDONLY, 0)
}

func open(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NONBLOCK|unix.O_CLOEXEC, perm)
	if err != nil {
		switch {
		case errors.Is(err, unix.ELOOP) && flag&unix.O_NOFOLLOW != 0:
			return nil, fmt.Errorf("%s %w", path, ErrSymlink)
		case errors.Is(err, unix.ENXIO), errors.Is(err, unix.EISDIR):
			// ENXIO: a FIFO opened for writing with no reader.
			return nil, fmt.Errorf("%s %w (%s)", path, ErrNotRegular, kindOf(path))
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s %w (%s)", path, ErrNotRegular, describe(fi.Mode()))
	}
	return f, nil
}

// ReadFile reads one of a probe's own files through OpenFile. A file larger
// than max bytes is refused with ErrTooLarge without being read, so a
// runaway file costs no memory. A missing file is an error wrapping
// os.ErrNotExist.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, path, max)
}

// ReadRegular reads a file the operator named through OpenRegular, bounded
// as ReadFile is.
func ReadRegular(path string, max int64) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, path, max)
}

// readAll reads f whole, refusing (ErrTooLarge) more than max bytes.
func readAll(f *os.File, path string, max int64) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s %w: %d bytes, limit %d", path, ErrTooLarge, fi.Size(), max)
	}
	// Bounded even if the file grows between the stat and the read.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s %w: limit %d", path, ErrTooLarge, max)
	}
	return data, nil
}

// tempPattern is the name WriteFile gives its temporary file for path.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// RemoveStale removes the temporary files WriteFile left beside path when
// it was killed between creating one and renaming it (SIGKILL, power cut),
// if they are older than age: a younger one may belong to a save in flight.
// Only the temp names of path itself are touched. It returns the paths it
// removed.
func RemoveStale(path string, age time.Duration, now time.Time) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(path), tempPattern(path)))
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(tempPattern(path), "*")
	var removed []string
	var errs []error
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err != nil || !fi.Mode().IsRegular() || !strings.HasPrefix(filepath.Base(m), prefix) || now.Sub(fi.ModTime()) < age {
			continue
		}
		if err := os.Remove(m); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, m)
	}
	return removed, errors.Join(errs...)
}

func kindOf(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return "unknown kind"
	}
	return describe(fi.Mode())
}

func describe(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "a symlink"
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
