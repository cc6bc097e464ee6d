package transport

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// readPrivateFile opens path without following a symlink, checks the
// opened file itself (so it cannot be swapped between the check and the
// read), and reads at most max bytes.
func readPrivateFile(path, what string, max int64) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP {
		return nil, fmt.Errorf("transport: %w %s: %s is a symlink; point the setting at the real file", ErrUnsafeSecret, path, what)
	}
	if err != nil {
		return nil, fmt.Errorf("transport: %w %s: %w", ErrUnsafeSecret, path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("transport: %w %s: %w", ErrUnsafeSecret, path, err)
	}
	if err := checkPrivateStat(&st, path, what); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max))
	if err != nil {
		return nil, fmt.Errorf("transport: read %s %s: %w", what, path, err)
	}
	return data, nil
}

func checkPrivateStat(st *unix.Stat_t, path, what string) error {
	mode := os.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		return fmt.Errorf("transport: %w %s: %s is a symlink; point the setting at the real file", ErrUnsafeSecret, path, what)
	case unix.S_IFDIR:
		return fmt.Errorf("transport: %w %s: %s is a directory", ErrUnsafeSecret, path, what)
	default:
		return fmt.Errorf("transport: %w %s: %s is not a regular file", ErrUnsafeSecret, path, what)
	}
	if int(st.Uid) != os.Getuid() {
		return fmt.Errorf("transport: %w %s: %s is owned by uid %d, not by this user (uid %d)", ErrUnsafeSecret, path, what, st.Uid, os.Getuid())
	}
	if mode&0o077 != 0 {
		return fmt.Errorf("transport: %w %s: %s has mode %04o, readable by others; run: chmod 600 %s", ErrUnsafeSecret, path, what, mode, path)
	}
	return nil
}

// maxPEM bounds a certificate or key file: real ones are a few kilobytes.
const maxPEM = 1 << 20

// readPublicFile reads a certificate: it may be a symlink (certificate
// tooling links them), but it is opened without blocking and must be a
// regular file, so a FIFO cannot hang the tick, and the read is bounded.
func readPublicFile(path, what string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("transport: read %s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("transport: read %s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("transport: read %s %s: not a regular file", what, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPEM))
	if err != nil {
		return nil, fmt.Errorf("transport: read %s %s: %w", what, path, err)
	}
	return data, nil
}
