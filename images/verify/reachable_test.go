package verify

import (
	"testing"
)

// TestReachable: each exposed port from another container,
// against a fake service.
func TestReachable(t *testing.T) {
	testLive(t, []liveCase{
		{name: "reachable from another container", check: reachable, target: fakeTarget{ip: "172.17.0.5", st: state{Running: true},
			probe: map[string]probeAnswer{"reach": {0, `[{"addr":"172.17.0.5:8080"}]`}}}, pass: true, words: []string{"answers at 172.17.0.5:8080"}},
		{name: "bound on loopback only", check: reachable, target: fakeTarget{ip: "172.17.0.5", st: state{Running: true},
			probe: map[string]probeAnswer{"reach": {0, `[{"addr":"172.17.0.5:8080","error":"connection refused"}]`},
				"listeners": {0, `[{"port":"8080/tcp","addrs":["127.0.0.1:8080"]}]`}}}, words: []string{"loopback only", "127.0.0.1:8080 only"}},
		{name: "nothing listens on an exposed port", check: reachable, target: fakeTarget{ip: "172.17.0.5", st: state{Running: true},
			probe: map[string]probeAnswer{"reach": {0, `[{"addr":"172.17.0.5:8080","error":"connection refused"}]`},
				"listeners": {0, `[]`}}}, words: []string{"nothing listens on 8080/tcp", "drop EXPOSE 8080/tcp"}},
		{name: "no address", check: reachable, target: fakeTarget{st: state{Running: true}}, words: []string{"no address", "bridge network"}},
	})
}
