package transport

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// checkPrivateFile refuses a secret file that is not a regular file owned by
// this user with mode bits for the owner only. A symlink is refused rather
// than followed: its target's permissions are not what an operator checks
// with ls -l.
func checkPrivateFile(path, what string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("transport: %w %s: %w", ErrUnsafeSecret, path, err)
	}
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
