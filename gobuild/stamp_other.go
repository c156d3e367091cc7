//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package gobuild

import "io/fs"

// stampsWork is false where the file system's change time is not at hand:
// there every deps run verifies the whole module cache.
const stampsWork = false

func stampOf(name string, fi fs.FileInfo) fileStamp {
	return fileStamp{Name: name, Size: fi.Size(), Mtime: fi.ModTime().UnixNano(), Mode: uint32(fi.Mode())}
}
