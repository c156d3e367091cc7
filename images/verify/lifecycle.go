package verify

import (
	"context"
	"fmt"
	"time"

	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/internal/human"
)

// staysUp proves the service did not exit once it had answered: at the end
// of the other checks, and at least SLIMAGE_VERIFY_SETTLE after it first
// answered. A job (no ports) that exited 0 within the grace period passes.
func staysUp(ctx context.Context, s *subject) []Check {
	ch := Check{Name: CheckStaysUp, Expected: fmt.Sprintf("running %s after ready", s.set.Settle)}
	st, err := s.t.State(ctx)
	if err != nil {
		ch.Got, ch.Cause = "unknown", "stays up: "+err.Error()
		return []Check{ch}
	}
	if st.Running {
		ch.Got, ch.Pass = fmt.Sprintf("running after %s", human.Duration(time.Since(s.readyAt))), true
		return []Check{ch}
	}
	if len(s.image.Ports) == 0 && st.ExitCode == 0 {
		ch.Expected, ch.Got, ch.Pass = "running, or exited 0 (a job)", "exited 0", true
		return []Check{ch}
	}
	after := "after it answered"
	if !st.FinishedAt.IsZero() {
		after = human.Duration(st.FinishedAt.Sub(s.readyAt)) + " after it answered"
	}
	ch.Got = fmt.Sprintf("exited %d %s", st.ExitCode, after)
	ch.Cause = fmt.Sprintf("stays up: the service exited with code %d %s; its last log lines: %s", st.ExitCode, after, logTail(ctx, s.t))
	return []Check{ch}
}

// stops sends SIGTERM, as `docker stop` and the kubelet do, and measures
// how long the service takes to exit, to the millisecond: past
// SLIMAGE_VERIFY_STOP (their grace before SIGKILL) production kills it
// mid-shutdown, so that fails even if it would have exited by itself
// later. The wait goes on a little past the limit, so the cause can say
// whether the service was slow or never exits.
// With a manifest container, its grace period is production's limit: the
// grace check judges that instead.
func stops(ctx context.Context, s *subject) []Check {
	if s.set.Deployment != nil && len(s.set.Deployment.Containers) > 0 {
		return nil
	}
	return []Check{stopsCheck(ctx, s)}
}

func stopsCheck(ctx context.Context, s *subject) Check {
	grace := s.set.Stop
	ch := Check{Name: CheckStops, Expected: fmt.Sprintf("exits within %s of SIGTERM", human.Duration(grace))}
	if st, err := s.t.State(ctx); err == nil && !st.Running {
		ch.Got, ch.Pass = fmt.Sprintf("had exited %d", st.ExitCode), true
		return ch
	}
	sent, exited, err := s.t.Term(ctx, grace+stopExtra(grace))
	switch {
	case ctx.Err() != nil:
		return ch
	case err != nil:
		ch.Got, ch.Cause = "unknown", "stops: "+err.Error()
		return ch
	}
	wall := time.Since(sent)
	if !exited && s.emulated && !s.initPID1 {
		// The emulator was PID 1 and drops a SIGTERM the binary has no
		// handler for: whether the binary exits cannot be told here.
		s.t.Kill(ctx)
		ch.Got, ch.Pass = fmt.Sprintf("not judged: still running after %s under QEMU emulation, whose emulator, as PID 1, drops a SIGTERM the binary has no handler for (this engine has no init to run it under); verify on %s hardware", human.Duration(wall), s.p), true
		return ch
	}
	if !exited {
		s.t.Kill(ctx)
		ch.Got = fmt.Sprintf("still running %s after SIGTERM", human.Duration(wall))
		ch.Cause = fmt.Sprintf("stops: the service did not exit within %s of SIGTERM (still running after %s), so production kills it: handle SIGTERM (signal.NotifyContext) and shut down within %s; as PID 1 in a container it gets no default signal handling from the kernel", human.Duration(grace), human.Duration(wall), human.Duration(grace))
		if s.initPID1 {
			ch.Cause = fmt.Sprintf("stops: the service did not exit within %s of SIGTERM (still running after %s), although under QEMU emulation it ran under an init that forwarded the signal: the binary itself does not exit on SIGTERM: handle it (signal.NotifyContext) and shut down within %s", human.Duration(grace), human.Duration(wall), human.Duration(grace))
		}
		return ch
	}
	st, err := s.t.State(ctx)
	if err != nil {
		ch.Got, ch.Cause = "unknown", "stops: "+err.Error()
		return ch
	}
	took := stopTime(sent, st.FinishedAt, wall)
	ch.Got = fmt.Sprintf("exited %d after %s", st.ExitCode, human.Duration(took))
	if took > grace && s.emulated {
		// Emulated code runs several times slower than on its own
		// hardware: its shutdown time says little about production's.
		ch.Got += fmt.Sprintf(" under QEMU emulation (slower than %s hardware: the %s limit is judged natively)", s.p, human.Duration(grace))
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
func stopTime(sent, finished time.Time, wall time.Duration) time.Duration {
	if finished.IsZero() {
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
