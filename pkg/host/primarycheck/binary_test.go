package primarycheck

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

func TestCanExec(t *testing.T) {
	user := Identity{UID: 501, Groups: []int{20, 80}}
	tests := []struct {
		name  string
		id    Identity
		mode  fs.FileMode
		owner Owner
		want  bool
	}{
		{"owner with owner x", user, 0o700, Owner{501, 20}, true},
		{"owner without owner x but group x", user, 0o670, Owner{501, 20}, false},
		{"group member with group x", user, 0o750, Owner{0, 80}, true},
		{"group member without group x but other x", user, 0o701, Owner{0, 80}, false},
		{"other with other x", user, 0o701, Owner{0, 0}, true},
		{"other without x", user, 0o770, Owner{0, 0}, false},
		{"root with any x", Identity{UID: 0}, 0o100, Owner{501, 20}, true},
		{"root with no x", Identity{UID: 0}, 0o644, Owner{501, 20}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.CanExec(tt.mode, tt.owner); got != tt.want {
				t.Errorf("CanExec(%04o, %v) = %v, want %v", tt.mode, tt.owner, got, tt.want)
			}
		})
	}
}

func TestCheckBinary(t *testing.T) {
	me := CurrentIdentity()
	tests := []struct {
		name  string
		setup func(t *testing.T, bin string)
		want  error
	}{
		{"executable", func(t *testing.T, bin string) {}, nil},
		{"deleted", func(t *testing.T, bin string) { os.Remove(bin) }, ErrBinaryMissing},
		{"chmod -x", func(t *testing.T, bin string) { os.Chmod(bin, 0o644) }, ErrBinaryNotExecutable},
		{"a directory", func(t *testing.T, bin string) { os.Remove(bin); os.Mkdir(bin, 0o755) }, ErrBinaryNotRegular},
		{"empty", func(t *testing.T, bin string) { os.Truncate(bin, 0) }, ErrBinaryEmpty},
		{"dangling symlink", func(t *testing.T, bin string) {
			os.Remove(bin)
			os.Symlink(filepath.Join(filepath.Dir(bin), "gone"), bin)
		}, ErrBinaryMissing},
		{"symlink to executable", func(t *testing.T, bin string) {
			real := filepath.Join(filepath.Dir(bin), "real")
			os.Rename(bin, real)
			os.Symlink(real, bin)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "sanctum-mlx")
			probetest.CopyFile(t, "/bin/sleep", bin, 0o755)
			tt.setup(t, bin)
			info, err := CheckBinary(bin, me)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckBinary = %v, want %v", err, tt.want)
			}
			if err == nil && (info.Inode == 0 || info.Size == 0) {
				t.Errorf("info not filled: %+v", info)
			}
		})
	}
}

func TestCheckMetallib(t *testing.T) {
	tests := []struct {
		name  string
		setup func(lib string)
		want  error
	}{
		{"present", func(lib string) {}, nil},
		{"removed", func(lib string) { os.Remove(lib) }, ErrMetallibMissing},
		{"empty", func(lib string) { os.Truncate(lib, 0) }, ErrMetallibEmpty},
		{"a directory", func(lib string) { os.Remove(lib); os.Mkdir(lib, 0o755) }, ErrMetallibMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "sanctum-mlx")
			lib := filepath.Join(dir, "shaders.metallib")
			os.WriteFile(lib, []byte("MTLB"), 0o644)
			tt.setup(lib)
			size, err := CheckMetallib(bin, "shaders.metallib")
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckMetallib = %v, want %v", err, tt.want)
			}
			if err == nil && size != 4 {
				t.Errorf("size = %d, want 4", size)
			}
		})
	}
}
