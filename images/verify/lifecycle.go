package verify

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/internal/human"
)

// staysUp proves the service did not exit once it had answered: at the end
// of the other checks, and at least SLIMAGE_VERIFY_SETTLE after it first
// answered. A job (no ports) that exited 0 within the grace period passes.
func (r *run) staysUp(ctx context.Context) Check {
	ch := Check{Name: "stays up", Expected: fmt.Sprintf("running %s after ready", r.set.Settle)}
	res, err := r.cli.ContainerInspect(ctx, r.app.GetContainerID(), client.ContainerInspectOptions{})
	if err != nil || res.Container.State == nil {
		ch.Got, ch.Cause = "unknown", "stays up: inspect the service's container: "+orNone(errText(err))
		return ch
	}
	st := res.Container.State
	if st.Running {
		ch.Got, ch.Pass = fmt.Sprintf("running after %s", human.Duration(time.Since(r.readyAt))), true
		return ch
	}
	if len(r.image.Ports) == 0 && st.ExitCode == 0 {
		ch.Expected, ch.Got, ch.Pass = "running, or exited 0 (a job)", "exited 0", true
		return ch
	}
	after := "after it answered"
	if finished, err := time.Parse(time.RFC3339Nano, st.FinishedAt); err == nil {
		after = human.Duration(finished.Sub(r.readyAt)) + " after it answered"
	}
	ch.Got = fmt.Sprintf("exited %d %s", st.ExitCode, after)
	ch.Cause = fmt.Sprintf("stays up: the service exited with code %d %s; its last log lines: %s", st.ExitCode, after, logTail(r.app))
	return ch
}

// stops sends SIGTERM, as `docker stop` and the kubelet do, and measures
// how long the service takes to exit, to the millisecond: past
// SLIMAGE_VERIFY_STOP (their grace before SIGKILL) production kills it
// mid-shutdown, so that fails even if it would have exited by itself
// later. The wait goes on a little past the limit, so the cause can say
// whether the service was slow or never exits.
func (r *run) stops(ctx context.Context) Check {
	grace := r.set.Stop
	ch := Check{Name: "stops", Expected: fmt.Sprintf("exits within %s of SIGTERM", human.Duration(grace))}
	id := r.app.GetContainerID()
	if st, err := r.app.State(ctx); err == nil && !st.Running {
		ch.Got, ch.Pass = fmt.Sprintf("had exited %d", st.ExitCode), true
		return ch
	}
	// The wait is registered before the signal, so the exit cannot be
	// missed.
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wait := r.cli.ContainerWait(waitCtx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	sent := time.Now()
	if _, err := r.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGTERM"}); err != nil {
		ch.Got, ch.Cause = "not signalled", "stops: send SIGTERM: "+daemon.FirstLine(err)
		return ch
	}
	exited := false
	select {
	case <-wait.Result:
		exited = true
	case err := <-wait.Error:
		if ctx.Err() != nil {
			return ch
		}
		ch.Got, ch.Cause = "unknown", "stops: wait for the container: "+daemon.FirstLine(err)
		return ch
	case <-time.After(grace + stopExtra(grace)):
	case <-ctx.Done():
		return ch
	}
	wall := time.Since(sent)
	if !exited && r.emulated && !r.initPID1 {
		// The emulator was PID 1 and drops a SIGTERM the binary has no
		// handler for: whether the binary exits cannot be told here.
		_, _ = r.cli.ContainerKill(context.WithoutCancel(ctx), id, client.ContainerKillOptions{Signal: "SIGKILL"})
		ch.Got, ch.Pass = fmt.Sprintf("not judged: still running after %s under QEMU emulation, whose emulator, as PID 1, drops a SIGTERM the binary has no handler for (this engine has no init to run it under); verify on %s hardware", human.Duration(wall), r.p), true
		return ch
	}
	if !exited {
		_, _ = r.cli.ContainerKill(context.WithoutCancel(ctx), id, client.ContainerKillOptions{Signal: "SIGKILL"})
		ch.Got = fmt.Sprintf("still running %s after SIGTERM", human.Duration(wall))
		ch.Cause = fmt.Sprintf("stops: the service did not exit within %s of SIGTERM (still running after %s), so production kills it: handle SIGTERM (signal.NotifyContext) and shut down within %s; as PID 1 in a container it gets no default signal handling from the kernel", human.Duration(grace), human.Duration(wall), human.Duration(grace))
		if r.initPID1 {
			ch.Cause = fmt.Sprintf("stops: the service did not exit within %s of SIGTERM (still running after %s), although under QEMU emulation it ran under an init that forwarded the signal: the binary itself does not exit on SIGTERM: handle it (signal.NotifyContext) and shut down within %s", human.Duration(grace), human.Duration(wall), human.Duration(grace))
		}
		return ch
	}
	st, err := r.app.State(context.WithoutCancel(ctx))
	if err != nil {
		ch.Got, ch.Cause = "unknown", "stops: inspect the container: "+daemon.FirstLine(err)
		return ch
	}
	took := stopTime(sent, st.FinishedAt, wall)
	ch.Got = fmt.Sprintf("exited %d after %s", st.ExitCode, human.Duration(took))
	if took > grace && r.emulated {
		// Emulated code runs several times slower than on its own
		// hardware: its shutdown time says little about production's.
		ch.Got += fmt.Sprintf(" under QEMU emulation (slower than %s hardware: the %s limit is judged natively)", r.p, human.Duration(grace))
		ch.Pass = true
		return ch
	}
	if took > grace {
		ch.Cause = fmt.Sprintf("stops: the service took %s to exit after SIGTERM, past the %s that SLIMAGE_VERIFY_STOP allows: production kills it at %s, mid-shutdown: shut down faster, or give it (and the deployment's terminationGracePeriodSeconds) longer", human.Duration(took), human.Duration(grace), human.Duration(grace))
		return ch
	}
	ch.Pass = true
	return ch
}

// stopExtra is how long stops waits past the limit to tell a slow exit
// from none: as long again, at least 2s and at most 10s.
func stopExtra(grace time.Duration) time.Duration {
	return min(max(grace, 2*time.Second), 10*time.Second)
}

// stopTime is how long the service took to exit: from just before the
// signal was sent to the exit time the engine recorded, which leaves out
// the engine's answer to the wait; the time measured here where the
// engine's clock does not agree with this one (a remote engine).
func stopTime(sent time.Time, finishedAt string, wall time.Duration) time.Duration {
	finished, err := time.Parse(time.RFC3339Nano, finishedAt)
	if err != nil {
		return wall
	}
	if took := finished.Sub(sent); took >= 0 && took <= wall {
		return took
	}
	return wall
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return daemon.FirstLine(err)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
