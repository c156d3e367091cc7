package verify

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/moby/moby/client"

	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/internal/human"
)

// staysUp proves the service did not exit once it had answered: at the end
// of the other checks, and at least SLIMAGE_VERIFY_SETTLE after it first
// answered. A job (no ports) that exited 0 within the grace period passes.
func (r *run) staysUp(ctx context.Context) Check {
	ch := Check{Name: "stays up", Expected: fmt.Sprintf("running %s after ready", r.c.VerifySettle)}
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

// stops sends SIGTERM, as `docker stop` and Kubernetes do, and waits up to
// SLIMAGE_VERIFY_STOP (their grace before SIGKILL) for the service to exit.
func (r *run) stops(ctx context.Context) Check {
	grace := r.c.VerifyStop
	ch := Check{Name: "stops", Expected: fmt.Sprintf("exits within %s of SIGTERM", grace)}
	id := r.app.GetContainerID()
	if st, err := r.app.State(ctx); err == nil && !st.Running {
		ch.Got, ch.Pass = fmt.Sprintf("had exited %d", st.ExitCode), true
		return ch
	}
	secs := int(math.Ceil(grace.Seconds()))
	began := time.Now()
	_, err := r.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Signal: "SIGTERM", Timeout: &secs})
	took := time.Since(began)
	if err != nil {
		ch.Got, ch.Cause = "not stopped", "stops: stop the container: "+daemon.FirstLine(err)
		return ch
	}
	st, err := r.app.State(ctx)
	if err != nil {
		ch.Got, ch.Cause = "unknown", "stops: inspect the container: "+daemon.FirstLine(err)
		return ch
	}
	if st.ExitCode == 137 && took >= time.Duration(secs)*time.Second-250*time.Millisecond {
		ch.Got = fmt.Sprintf("killed after %s", human.Duration(took))
		ch.Cause = fmt.Sprintf("stops: the service did not exit within %s of SIGTERM and was killed: handle SIGTERM (signal.NotifyContext) and shut down; as PID 1 in a container it gets no default signal handling from the kernel", grace)
		return ch
	}
	ch.Got, ch.Pass = fmt.Sprintf("exited %d after %s", st.ExitCode, human.Duration(took)), true
	return ch
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
