// Package userfile reads the files a user names (run-time files, CA
// bundles): regular files only, and never a read that cannot be stopped.
// A named pipe would block a read until something writes to it, and a
// device may never end; both are refused by what they are, checked on the
// opened file itself, so a file swapped for a pipe after a check is
// refused too.
package userfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// MaxSize is the largest file Read takes: run-time files and CA bundles
// are small, and a mistaken path to a disk image should not fill memory.
const MaxSize = 256 << 20

// Kind says why fi is not a file Read takes; nil for a regular file.
func Kind(fi fs.FileInfo) error {
	switch m := fi.Mode(); {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return errors.New("is a folder")
	case m&fs.ModeNamedPipe != 0:
		return errors.New("is a named pipe (FIFO), not a file")
	case m&fs.ModeSocket != 0:
		return errors.New("is a socket, not a file")
	case m&fs.ModeDevice != 0 || m&fs.ModeCharDevice != 0:
		return errors.New("is a device, not a file")
	default:
		return fmt.Errorf("is not a regular file (%s)", m.Type())
	}
}

// Read reads the regular file at path, in pieces, stopping when ctx is
// cancelled. Its errors are one phrase without the path ("does not
// exist", "is a named pipe (FIFO), not a file"): callers name the
// setting and the path.
func Read(ctx context.Context, path string) ([]byte, error) {
	f, err := openNoBlock(path)
	if err != nil {
		return nil, cause(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, cause(err)
	}
	if err := Kind(fi); err != nil {
		return nil, err
	}
	if fi.Size() > MaxSize {
		return nil, fmt.Errorf("is %d MiB, more than the %d MiB a run-time file may be", fi.Size()>>20, MaxSize>>20)
	}
	data := make([]byte, 0, fi.Size())
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := f.Read(buf)
		data = append(data, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return data, nil
		}
		if err != nil {
			return nil, cause(err)
		}
		if len(data) > MaxSize {
			return nil, fmt.Errorf("grew past %d MiB while it was read", MaxSize>>20)
		}
	}
}

// cause is an error without the path the os package puts in it.
func cause(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("does not exist")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
