//go:build !linux

package childproc

import (
	"os"
	"syscall"
)

// dieWithParent: only Linux has a parent-death signal. Elsewhere slimage's
// engine watches its parent itself (see images/internal/step); a go
// command outlives a killed slimage as it would a killed shell, and its
// temp folder is removed by the next run (see gotool).
func dieWithParent(group bool) *syscall.SysProcAttr { return groupAttr(group) }

func interruptGroup(p *os.Process) error { return signalGroup(p) }
