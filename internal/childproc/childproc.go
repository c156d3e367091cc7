// Package childproc is how slimage stops the processes it starts (its
// engine, the go command): as Ctrl-C would, so they clean up, and by the
// kernel when slimage itself dies, so none outlives the run.
package childproc

import (
	"errors"
	"os"
	"os/exec"
	"time"
)

// Stoppable has cmd, started with exec.CommandContext, interrupted when
// its context is cancelled, killed if it has not ended delay later, and
// interrupted by the kernel when this process dies (where the system can:
// Linux). For a child that handles an interrupt by cleaning up and
// exiting: slimage's engine. Call it before cmd.Start.
func Stoppable(cmd *exec.Cmd, delay time.Duration) {
	cmd.Cancel = func() error { return Interrupt(cmd.Process) }
	cmd.WaitDelay = delay
	cmd.SysProcAttr = dieWithParent(false)
}

// StoppableGroup is Stoppable for a child that works through children of
// its own and stops only when they do: the go command, whose compilers and
// linker an interrupt must reach too, as Ctrl-C in a terminal reaches
// them all. It runs in a process group of its own, which an interrupt
// reaches whole; when this process dies, the kernel kills it.
func StoppableGroup(cmd *exec.Cmd, delay time.Duration) {
	cmd.Cancel = func() error { return interruptGroup(cmd.Process) }
	cmd.WaitDelay = delay
	cmd.SysProcAttr = dieWithParent(true)
}

// Interrupt asks a process to stop as Ctrl-C would; where processes take
// no interrupt (Windows) it is killed.
func Interrupt(p *os.Process) error {
	err := p.Signal(os.Interrupt)
	if err == nil || errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return p.Kill()
}
