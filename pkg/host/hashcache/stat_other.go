//go:build !unix

package hashcache

import (
	"os"
)

// trustedKeys is false here: without an inode and a ctime the key cannot
// catch a same-size rewrite with a restored mtime, so the cache never
// serves a hit on these systems and every file is hashed.
const trustedKeys = false

func checkRegular(mode os.FileMode) error {
	if !mode.IsRegular() {
		return ErrNotRegular
	}
	return nil
}

func keyOfInfo(fi os.FileInfo) fileKey {
	return fileKey{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
}

func statPath(path string) (fileKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileKey{}, err
	}
	if err := checkRegular(fi.Mode()); err != nil {
		return fileKey{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return keyOfInfo(fi), nil
}

func statFile(f *os.File) (fileKey, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileKey{}, err
	}
	if err := checkRegular(fi.Mode()); err != nil {
		return fileKey{}, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return keyOfInfo(fi), nil
}

func openForHash(path string) (*os.File, error) {
	return os.Open(path)
}
