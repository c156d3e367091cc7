//go:build darwin || freebsd || netbsd || openbsd

package gobuild

import "syscall"

func ctime(st *syscall.Stat_t) int64 { return st.Ctimespec.Nano() }
