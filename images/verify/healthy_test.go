package verify

import (
	"testing"
)

// TestHealthy: the health path through the settle time,
// against a fake service.
func TestHealthy(t *testing.T) {
	testLive(t, []liveCase{
		{name: "healthy throughout", check: healthy, target: fakeTarget{st: state{Running: true}, probe: map[string]probeAnswer{"healthy": {0, "ok 12"}}},
			pass: true, words: []string{"2xx, 12 times"}},
		{name: "unhealthy after ready", check: healthy, target: fakeTarget{st: state{Running: true}, logs: "db: connection lost", probe: map[string]probeAnswer{"healthy": {1, "GET /healthz: 503 Service Unavailable"}}},
			words: []string{"503 Service Unavailable", "db: connection lost"}},
		{name: "exited while settling", check: healthy, target: fakeTarget{st: state{ExitCode: 1}, probe: map[string]probeAnswer{"healthy": {1, "GET /healthz: connection refused"}}},
			words: []string{"the service exited"}},
	})
}
