//go:build unix

package signing

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwner refuses a key owned by someone else: they could replace it.
func checkOwner(fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("owned by uid %d, not by this user (uid %d): %w", st.Uid, uid, ErrKeyPermissions)
	}
	return nil
}
