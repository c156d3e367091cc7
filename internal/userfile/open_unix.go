//go:build unix

package userfile

import (
	"os"
	"syscall"
)

// openNoBlock opens path for reading without waiting: opening a named
// pipe otherwise blocks until a writer opens it.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
