package verify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/daemon"
)

// start runs the image as built (its entrypoint, its user) and keeps it
// running in r.app for the other checks. With an exposed port, a probe that
// shares the service's network namespace waits until the service answers
// on its first port (see startPort) and SLIMAGE_VERIFY_HEALTH returns 2xx
// there; a 4xx ends the wait at once (the path or the port is wrong, and
// waiting will not change that), a refused connection or a 5xx is asked
// again until SLIMAGE_VERIFY_TIMEOUT. Without a port, the service must stay
// up for the grace period or exit 0 (a job). r.readyAt is when it answered.
func (r *run) start(ctx context.Context) Check {
	ch := Check{Name: "start"}
	var app *testcontainers.DockerContainer
	var err error
	if r.emulated {
		// Under QEMU user emulation the emulator is PID 1, and as PID 1
		// it drops a SIGTERM the binary has no handler for (the kernel
		// gives PID 1 no default action), where the binary itself, on its
		// own platform, would exit (Go's runtime exits 2). With the
		// engine's init as PID 1, forwarding signals, what stops sees is
		// what the binary does. Nothing else of the service depends on
		// being PID 1.
		init := true
		app, err = r.s.run(ctx, r.ref, testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.Init = &init }))
		if err == nil {
			r.initPID1 = true
		} else if ctx.Err() == nil {
			if app != nil {
				terminate(app)
			}
			// An engine without an init: run as built.
			app, err = r.s.run(ctx, r.ref)
		}
	} else {
		app, err = r.s.run(ctx, r.ref)
	}
	r.app = app
	if err != nil {
		ch.Expected, ch.Got = "starts", "did not start"
		ch.Cause = "start: " + daemon.FirstLine(err)
		return ch
	}
	port, path, why := r.startPort()
	if why != "" {
		ch.Expected, ch.Got, ch.Cause = "answers on "+port, "not checked", "start: "+why
		return ch
	}
	if port == "" {
		ch.Expected = fmt.Sprintf("up for %s, or exits 0", r.set.Grace)
		select {
		case <-ctx.Done():
			ch.Got, ch.Cause = "cancelled", "start: cancelled"
			return ch
		case <-time.After(r.set.Grace):
		}
		r.readyAt = time.Now().Add(-r.set.Settle) // the grace was its settle time
		st, err := app.State(context.WithoutCancel(ctx))
		switch {
		case err != nil:
			ch.Got, ch.Cause = "unknown", "start: "+daemon.FirstLine(err)
		case st.Running || st.ExitCode == 0:
			ch.Got, ch.Pass = "up", true
			if !st.Running {
				ch.Got = "exited 0"
			}
		case cannotRun(app):
			ch.Got, ch.Cause = gotCannotRun, unrunnableCause(r.p)
		default:
			ch.Got = fmt.Sprintf("exited %d", st.ExitCode)
			ch.Cause = fmt.Sprintf("start: the service exited with code %d; its last log lines: %s", st.ExitCode, logTail(app))
		}
		return ch
	}
	ch.Expected = "answers on " + port
	if path != "" {
		ch.Expected += ", GET " + path + " 2xx"
	}
	args := []string{"wait", "-port", port, "-timeout", r.set.Timeout.String()}
	if path != "" {
		args = append(args, "-path", path)
	}
	exit, said, err := r.execProbe(ctx, "container:"+app.GetContainerID(), r.set.Timeout+30*time.Second, args...)
	r.readyAt = time.Now()
	if at, ok := strings.CutPrefix(lastLine(said), "ready "); ok {
		if t, perr := time.Parse(time.RFC3339Nano, at); perr == nil && t.Before(r.readyAt) {
			r.readyAt = t
		}
	}
	if exit == 0 {
		ch.Got, ch.Pass = "ready", true
		return ch
	}
	// The service's own state explains most failures: it exited.
	if st, serr := app.State(context.WithoutCancel(ctx)); serr == nil && !st.Running {
		ch.Got = fmt.Sprintf("exited %d", st.ExitCode)
		ch.Cause = fmt.Sprintf("start: the service exited with code %d before answering on %s; its last log lines: %s", st.ExitCode, port, logTail(app))
		if cannotRun(app) {
			ch.Got, ch.Cause = gotCannotRun, unrunnableCause(r.p)
		}
		return ch
	}
	if err != nil {
		ch.Got, ch.Cause = "not checked", "start: run the readiness probe: "+daemon.FirstLine(err)
		return ch
	}
	if exit == 3 { // a 4xx
		status := strings.TrimSpace(lastLine(said))
		if _, s, ok := strings.Cut(status, ": "); ok {
			status = s
		}
		ch.Got = status
		ch.Cause = fmt.Sprintf("start: GET %s on %s answered %s: the service does not serve that path on that port: fix the path in SLIMAGE_VERIFY_HEALTH, or name its port (SLIMAGE_VERIFY_HEALTH=<port>:%s); without one, it is asked on the first port of SLIMAGE_PORTS", path, port, status, path)
		return ch
	}
	ch.Got = "no answer"
	ch.Cause = fmt.Sprintf("start: %s: check that the service listens on %s or raise SLIMAGE_VERIFY_TIMEOUT; its last log lines: %s", strings.TrimSpace(said), port, logTail(app))
	return ch
}

// startPort is the port start waits on, and the health path asked there:
// the port SLIMAGE_VERIFY_HEALTH names, else the first of SLIMAGE_PORTS as
// the user listed them (an image's exposed ports have no order), else the
// first the image exposes (TCP first, then by number). why says what is
// wrong when that port is one the image does not expose.
func (r *run) startPort() (port, path, why string) {
	named, path := r.set.HealthPort, r.set.HealthPath
	exposed := r.image.Ports
	switch {
	case named != "":
		port = named
	case len(r.set.Ports) > 0 && slices.Contains(exposed, r.set.Ports[0]):
		port = r.set.Ports[0]
	case len(exposed) > 0:
		port = exposed[0]
	}
	if port != "" && !slices.Contains(exposed, port) {
		return port, path, fmt.Sprintf("SLIMAGE_VERIFY_HEALTH names port %s, which the image does not expose (it exposes %s): name one of those, or expose it (SLIMAGE_PORTS)", port, orNone(strings.Join(exposed, ", ")))
	}
	return port, path, ""
}

// gotCannotRun is start's result for an image whose platform this Docker
// host cannot run at all: nothing else of it is checked.
const gotCannotRun = "cannot run here"

// cannotRun reports whether the kernel refused the image's binary: a
// foreign architecture without QEMU's binfmt handler.
func cannotRun(ctr *testcontainers.DockerContainer) bool {
	return strings.Contains(logs(ctr), "exec format error")
}

func unrunnableCause(p config.Platform) string {
	return fmt.Sprintf("start: %s binaries cannot run on this Docker host (exec format error), so nothing of this platform was verified: register QEMU user emulation for it (Debian: apt-get install qemu-user-static binfmt-support), or verify on a %s machine", p, p)
}
