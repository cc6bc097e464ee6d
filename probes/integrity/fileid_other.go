//go:build !unix

package integrity

import "io/fs"

// Without a Unix stat there is no inode: the stale-process check reports
// unsupported.
func fileIDOf(fs.FileInfo) fileID { return fileID{} }
