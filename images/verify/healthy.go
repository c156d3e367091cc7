package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slimage/slimage/internal/human"
)

// healthy proves the health path keeps answering 2xx through the settle
// time, not only once: a service that turns unhealthy right after its first
// good answer is pulled from its Service (and, on a liveness probe,
// restarted) in production. A probe in the service's network namespace
// asks the path every 200ms until the settle time ends. Without a health
// path it has no row.
func healthy(ctx context.Context, s *subject) []Check {
	port, path, _ := s.startPort()
	if path == "" {
		return nil
	}
	during := max(time.Until(s.readyAt.Add(s.set.Settle)), 0)
	ch := Check{Name: CheckHealthy, Expected: fmt.Sprintf("GET %s 2xx until %s after ready", path, human.Duration(s.set.Settle))}
	exit, said, err := s.t.Probe(ctx, netService, during+time.Minute,
		"healthy", "-port", port, "-path", path, "-for", during.String())
	switch last := strings.TrimSpace(lastLine(said)); {
	case err != nil:
		ch.Got, ch.Cause = "not checked", "healthy: run the probe: "+err.Error()
	case exit == 0:
		n := strings.TrimPrefix(last, "ok ")
		ch.Got, ch.Pass = fmt.Sprintf("2xx, %s times", n), true
	case exited(ctx, s.t):
		ch.Got = "the service exited"
		ch.Cause = "healthy: the service exited during the settle time, so its health path stopped answering (stays up says how it exited)"
	default:
		ch.Got = last
		if _, s, ok := strings.Cut(last, ": "); ok {
			ch.Got = s
		}
		ch.Cause = fmt.Sprintf("healthy: the service answered its health path once, then %s: production takes it out of its Service (and restarts it, if the path is also its liveness probe): find out why it turns unhealthy; its last log lines: %s", last, logTail(ctx, s.t))
	}
	return []Check{ch}
}

// exited says whether the service's container has stopped running.
func exited(ctx context.Context, t target) bool {
	st, err := t.State(ctx)
	return err == nil && !st.Running
}
