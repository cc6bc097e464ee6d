//go:build unix

package primarycheck

import (
	"io/fs"
	"syscall"
)

func ownerOf(fi fs.FileInfo) Owner {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Owner{UID: -1, GID: -1}
	}
	return Owner{UID: int(st.Uid), GID: int(st.Gid)}
}

func inodeOf(fi fs.FileInfo) uint64 {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	return uint64(st.Ino)
}
