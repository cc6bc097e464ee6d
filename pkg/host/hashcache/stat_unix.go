//go:build unix

package hashcache

import (
	"os"

	"golang.org/x/sys/unix"
)

// trustedKeys is true where (dev, inode, size, mtime, ctime) are all real.
const trustedKeys = true

func keyOf(st *unix.Stat_t) fileKey {
	return fileKey{
		Dev:     uint64(st.Dev), // int32 on darwin, uint64 on linux
		Ino:     st.Ino,
		Size:    st.Size,
		MtimeNs: st.Mtim.Nano(),
		CtimeNs: st.Ctim.Nano(),
	}
}

func statPath(path string) (fileKey, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileKey{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileKey{}, &os.PathError{Op: "stat", Path: path, Err: ErrNotRegular}
	}
	return keyOf(&st), nil
}

func statFile(f *os.File) (fileKey, error) {
	var st unix.Stat_t
	var serr error
	rc, err := f.SyscallConn()
	if err != nil {
		return fileKey{}, err
	}
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		return fileKey{}, err
	}
	if serr != nil {
		return fileKey{}, &os.PathError{Op: "fstat", Path: f.Name(), Err: serr}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileKey{}, &os.PathError{Op: "fstat", Path: f.Name(), Err: ErrNotRegular}
	}
	return keyOf(&st), nil
}

// openForHash opens path read-only without blocking: if the path was
// swapped for a FIFO between the stat and the open, O_NONBLOCK keeps the
// open from hanging and the fstat that follows rejects it.
func openForHash(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
}
