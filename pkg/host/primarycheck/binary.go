package primarycheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Owner is who a file belongs to, and Identity who would exec it.
type Owner struct{ UID, GID int }

// Identity is the user launchd runs the primary as: the probe's user,
// since both are agents in the same gui/<uid> domain.
type Identity struct {
	UID    int
	Groups []int // primary and supplementary groups
}

// CurrentIdentity is the identity of this process.
func CurrentIdentity() Identity {
	id := Identity{UID: os.Getuid(), Groups: []int{os.Getgid()}}
	if gs, err := os.Getgroups(); err == nil {
		id.Groups = append(id.Groups, gs...)
	}
	return id
}

// CanExec reports whether id may execute a file with mode and owner, by the
// same rules as execve(2): the owner's bits for the owner, else the group's
// bits for a member, else the others' bits; root needs any execute bit.
func (id Identity) CanExec(mode fs.FileMode, owner Owner) bool {
	perm := mode.Perm()
	if id.UID == 0 {
		return perm&0o111 != 0
	}
	if id.UID == owner.UID {
		return perm&0o100 != 0
	}
	for _, g := range id.Groups {
		if g == owner.GID {
			return perm&0o010 != 0
		}
	}
	return perm&0o001 != 0
}

// BinaryInfo is what the binary check saw.
type BinaryInfo struct {
	Path  string
	Mode  fs.FileMode
	Owner Owner
	Size  int64
	// Inode is the file's inode number (0 where the OS has none).
	Inode uint64
}

// Reasons the binary check fails, for errors.Is.
var (
	ErrBinaryMissing       = errors.New("binary missing")
	ErrBinaryNotRegular    = errors.New("binary is not a regular file")
	ErrBinaryNotExecutable = errors.New("binary is not executable by this user")
	ErrBinaryEmpty         = errors.New("binary is empty")
)

// CheckBinary checks that the primary binary exists, is a regular non-empty
// file and that id may execute it. It follows symlinks, as launchd's exec
// does. The info is filled as far as the file could be seen.
func CheckBinary(path string, id Identity) (BinaryInfo, error) {
	info := BinaryInfo{Path: path}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return info, fmt.Errorf("stat %s: %w", path, ErrBinaryMissing)
	}
	if err != nil {
		return info, fmt.Errorf("stat binary: %w", err)
	}
	info.Mode, info.Size = fi.Mode(), fi.Size()
	info.Owner, info.Inode = ownerOf(fi), inodeOf(fi)
	switch {
	case !fi.Mode().IsRegular():
		return info, fmt.Errorf("%s (%s): %w", path, fi.Mode().Type(), ErrBinaryNotRegular)
	case !id.CanExec(fi.Mode(), info.Owner):
		return info, fmt.Errorf("%s mode %04o owner %d:%d, probe runs as uid %d: %w",
			path, fi.Mode().Perm(), info.Owner.UID, info.Owner.GID, id.UID, ErrBinaryNotExecutable)
	case fi.Size() == 0:
		return info, fmt.Errorf("%s: %w", path, ErrBinaryEmpty)
	}
	return info, nil
}

// Present reports whether anything is at path, even a dangling symlink or
// a file this user may not execute: something whose signature can still
// be checked.
func Present(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
