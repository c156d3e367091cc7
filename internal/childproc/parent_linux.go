package childproc

import (
	"os"
	"syscall"
)

// dieWithParent has the kernel signal a child when the process that
// started it ends (a kill leaves that process no chance to): an interrupt
// for a child that cleans up on one, a kill for a group leader (the go
// command ignores an interrupt that reaches it alone).
func dieWithParent(group bool) *syscall.SysProcAttr {
	if group {
		return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT}
}

func interruptGroup(p *os.Process) error { return signalGroup(p) }
