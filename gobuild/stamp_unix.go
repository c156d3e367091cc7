//go:build linux || darwin || freebsd || netbsd || openbsd

package gobuild

import (
	"io/fs"
	"syscall"
)

// stampsWork says that stampOf sees ctime and inode, which catch any write.
const stampsWork = true

func stampOf(name string, fi fs.FileInfo) fileStamp {
	s := fileStamp{Name: name, Size: fi.Size(), Mtime: fi.ModTime().UnixNano(), Mode: uint32(fi.Mode())}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.Ino = uint64(st.Ino)
		s.Ctime = ctime(st)
	}
	return s
}
