//go:build unix

package integrity

import (
	"io/fs"
	"syscall"
)

func fileIDOf(fi fs.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino), DevKnown: true} // Dev is int32 on darwin
}
