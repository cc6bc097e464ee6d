package hashcache

import "errors"

// fileKey is what the cache compares to decide a file is unchanged. Any
// write to a file moves its ctime, which no user call can set back (unlike
// mtime, which os.Chtimes restores); replacing the file changes the inode;
// moving it to another filesystem changes the device.
//
// The per-OS files provide statPath (by name, for the cheap cache check),
// statFile (on the open descriptor, so the key describes the bytes actually
// read) and openForHash.
type fileKey struct {
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	CtimeNs int64  `json:"ctime_ns"`
}

// ErrNotRegular is returned for directories, devices, FIFOs and sockets:
// only regular files have content worth hashing, and opening a FIFO would
// block.
var ErrNotRegular = errors.New("not a regular file")
