package verify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/daemon"
)

// start runs the image as built (its entrypoint, its user) and keeps it
// running for the other checks; ready judges whether it started. Under
// QEMU user emulation the emulator is PID 1, and as PID 1 it drops a
// SIGTERM the binary has no handler for (the kernel gives PID 1 no
// default action), where the binary itself, on its own platform, would
// exit (Go's runtime exits 2). With the engine's init as PID 1, forwarding
// signals, what stops sees is what the binary does. Nothing else of the
// service depends on being PID 1.
func (r *run) start(ctx context.Context) Check {
	var err error
	r.initPID1, err = r.dt.start(ctx, nil, r.emulated)
	if err != nil {
		return Check{Name: CheckStart, Expected: "starts", Got: "did not start", Cause: "start: " + daemon.FirstLine(err)}
	}
	ch, readyAt := ready(ctx, &r.subject, r.t, CheckStart)
	r.readyAt = readyAt
	return ch
}

// ready judges whether the service t reaches started, as the row name:
// with an exposed port, a probe that shares the service's network
// namespace waits until the service answers on its first port (see
// startPort) and SLIMAGE_VERIFY_HEALTH returns 2xx there; a 4xx ends the
// wait at once (the path or the port is wrong, and waiting will not change
// that), a refused connection or a 5xx is asked again until
// SLIMAGE_VERIFY_TIMEOUT. Without a port, the service must stay up for the
// grace period or exit 0 (a job). readyAt is when it answered.
func ready(ctx context.Context, s *subject, t target, name string) (ch Check, readyAt time.Time) {
	ch = Check{Name: name}
	port, path, why := s.startPort()
	if why != "" {
		ch.Expected, ch.Got, ch.Cause = "answers on "+port, "not checked", name+": "+why
		return ch, time.Now()
	}
	if port == "" {
		ch.Expected = fmt.Sprintf("up for %s, or exits 0", s.set.Grace)
		select {
		case <-ctx.Done():
			ch.Got, ch.Cause = "cancelled", name+": cancelled"
			return ch, time.Now()
		case <-time.After(s.set.Grace):
		}
		readyAt = time.Now().Add(-s.set.Settle) // the grace was its settle time
		st, err := t.State(ctx)
		switch {
		case err != nil:
			ch.Got, ch.Cause = "unknown", name+": "+err.Error()
		case st.Running || st.ExitCode == 0:
			ch.Got, ch.Pass = "up", true
			if !st.Running {
				ch.Got = "exited 0"
			}
		case cannotRun(ctx, t):
			ch.Got, ch.Cause = gotCannotRun, unrunnableCause(s.p)
		default:
			ch.Got = fmt.Sprintf("exited %d", st.ExitCode)
			ch.Cause = fmt.Sprintf("%s: the service exited with code %d; its last log lines: %s", name, st.ExitCode, logTail(ctx, t))
		}
		return ch, readyAt
	}
	ch.Expected = "answers on " + port
	if path != "" {
		ch.Expected += ", GET " + path + " 2xx"
	}
	args := []string{"wait", "-port", port, "-timeout", s.set.Timeout.String()}
	if path != "" {
		args = append(args, "-path", path)
	}
	exit, said, err := t.Probe(ctx, netService, s.set.Timeout+30*time.Second, args...)
	readyAt = time.Now()
	if at, ok := strings.CutPrefix(lastLine(said), "ready "); ok {
		if t, perr := time.Parse(time.RFC3339Nano, at); perr == nil && t.Before(readyAt) {
			readyAt = t
		}
	}
	if exit == 0 {
		ch.Got, ch.Pass = "ready", true
		return ch, readyAt
	}
	// The service's own state explains most failures: it exited.
	if st, serr := t.State(ctx); serr == nil && !st.Running {
		ch.Got = fmt.Sprintf("exited %d", st.ExitCode)
		ch.Cause = fmt.Sprintf("%s: the service exited with code %d before answering on %s; its last log lines: %s", name, st.ExitCode, port, logTail(ctx, t))
		if cannotRun(ctx, t) {
			ch.Got, ch.Cause = gotCannotRun, unrunnableCause(s.p)
		}
		return ch, readyAt
	}
	if err != nil {
		ch.Got, ch.Cause = "not checked", name+": run the readiness probe: "+daemon.FirstLine(err)
		return ch, readyAt
	}
	if exit == 3 { // a 4xx
		status := strings.TrimSpace(lastLine(said))
		if _, text, ok := strings.Cut(status, ": "); ok {
			status = text
		}
		ch.Got = status
		ch.Cause = fmt.Sprintf("%s: GET %s on %s answered %s: the service does not serve that path on that port: fix the path in SLIMAGE_VERIFY_HEALTH, or name its port (SLIMAGE_VERIFY_HEALTH=<port>:%s); without one, it is asked on the first port of SLIMAGE_PORTS", name, path, port, status, path)
		return ch, readyAt
	}
	ch.Got = "no answer"
	ch.Cause = fmt.Sprintf("%s: %s: check that the service listens on %s or raise SLIMAGE_VERIFY_TIMEOUT; its last log lines: %s", name, strings.TrimSpace(said), port, logTail(ctx, t))
	return ch, readyAt
}

// startPort is the port start waits on, and the health path asked there:
// the port SLIMAGE_VERIFY_HEALTH names, else the first of SLIMAGE_PORTS as
// the user listed them (an image's exposed ports have no order), else the
// first the image exposes (TCP first, then by number). why says what is
// wrong when that port is one the image does not expose.
func (s *subject) startPort() (port, path, why string) {
	named, path := s.set.HealthPort, s.set.HealthPath
	exposed := s.image.Ports
	switch {
	case named != "":
		port = named
	case len(s.set.Ports) > 0 && slices.Contains(exposed, s.set.Ports[0]):
		port = s.set.Ports[0]
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
func cannotRun(ctx context.Context, t target) bool {
	return strings.Contains(t.Logs(ctx), "exec format error")
}

func unrunnableCause(p config.Platform) string {
	return fmt.Sprintf("start: %s binaries cannot run on this Docker host (exec format error), so nothing of this platform was verified: register QEMU user emulation for it (Debian: apt-get install qemu-user-static binfmt-support), or verify on a %s machine", p, p)
}
