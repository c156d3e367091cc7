//go:build !unix

package userfile

import "os"

// openNoBlock: opening a file does not block here.
func openNoBlock(path string) (*os.File, error) { return os.Open(path) }
