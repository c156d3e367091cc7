package childproc

import (
	"os"
	"syscall"
)

func groupAttr(bool) *syscall.SysProcAttr { return nil }

// signalGroup: Windows takes no interrupt; the process is killed.
func signalGroup(p *os.Process) error { return p.Kill() }

// Alive says whether a process with this ID runs.
func Alive(pid int) bool {
	_, err := os.FindProcess(pid)
	return err == nil
}
