package integrity

import (
	"fmt"
	"os"
)

// fileID identifies a file's content on disk: a rebuilt binary written to a
// new file (as linkers and cargo do) gets a new inode even at the same path.
type fileID struct {
	Dev, Ino uint64
	// DevKnown is false where only the inode is known (lsof's -Fi).
	DevKnown bool
}

// Same reports whether a and b are the same file. The device is compared
// only when both sides know it.
func (a fileID) Same(b fileID) bool {
	if a.Ino != b.Ino {
		return false
	}
	return !a.DevKnown || !b.DevKnown || a.Dev == b.Dev
}

func (a fileID) String() string {
	if a.DevKnown {
		return fmt.Sprintf("%d (dev %d)", a.Ino, a.Dev)
	}
	return fmt.Sprint(a.Ino)
}

// statID returns the FileID of the file at path (following symlinks).
func statID(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	return fileIDOf(fi), nil
}
