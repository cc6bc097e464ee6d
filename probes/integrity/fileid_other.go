//go:build !unix

package integrity

import "io/fs"

// Without a Unix stat there is no inode or owner: the stale-process check
// reports unsupported and the exec check sees owner -1.
func fileIDOf(fs.FileInfo) FileID { return FileID{} }

func ownerOf(fs.FileInfo) Owner { return Owner{UID: -1, GID: -1} }
