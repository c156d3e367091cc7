//go:build unix && !linux

package childproc

import "syscall"

func groupAttr(group bool) *syscall.SysProcAttr {
	if group {
		return &syscall.SysProcAttr{Setpgid: true}
	}
	return nil
}
