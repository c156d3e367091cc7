//go:build unix

package childproc

import (
	"errors"
	"os"
	"syscall"
)

// signalGroup interrupts p's process group (p leads it), as Ctrl-C in a
// terminal would.
func signalGroup(p *os.Process) error {
	err := syscall.Kill(-p.Pid, syscall.SIGINT)
	if err == nil || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return p.Kill()
}

// Alive says whether a process with this ID runs (or has not been reaped).
func Alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
