package primarycheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultMetallib is the Metal shader library MLX loads from the binary's
// directory; without it the model load panics before serving a byte.
const DefaultMetallib = "mlx.metallib"

// Reasons the metallib check fails, for errors.Is.
var (
	ErrMetallibMissing = errors.New("metallib missing")
	ErrMetallibEmpty   = errors.New("metallib is empty")
)

// MetallibPath is the sibling of binary named name.
func MetallibPath(binary, name string) string {
	return filepath.Join(filepath.Dir(binary), name)
}

// CheckMetallib checks that the metallib next to binary exists, is a
// regular file and is not empty; it returns the size seen.
func CheckMetallib(binary, name string) (int64, error) {
	p := MetallibPath(binary, name)
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("%s: %w", p, ErrMetallibMissing)
	case err != nil:
		return 0, fmt.Errorf("stat metallib: %w", err)
	case !fi.Mode().IsRegular():
		return 0, fmt.Errorf("%s is a %s, not a file: %w", p, fi.Mode().Type(), ErrMetallibMissing)
	case fi.Size() == 0:
		return 0, fmt.Errorf("%s: %w", p, ErrMetallibEmpty)
	}
	return fi.Size(), nil
}
