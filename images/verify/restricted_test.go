package verify

import (
	"context"
	"testing"
)

// TestRestricted: the service started again under the restricted profile,
// against a fake service.
func TestRestricted(t *testing.T) {
	up := func(logs string) *fakeTarget {
		return &fakeTarget{st: state{Running: true}, logs: logs, probe: map[string]probeAnswer{"wait": {0, "ready"}}}
	}
	exited := func(logs string) *fakeTarget {
		return &fakeTarget{st: state{ExitCode: 1}, logs: logs, probe: map[string]probeAnswer{"wait": {1, "no answer on 8080/tcp"}}}
	}
	testLive(t, []liveCase{
		{name: "starts", check: restricted, target: fakeTarget{runAs: up("")}, pass: true, words: []string{"ready"}},
		{name: "writes to the root file system", check: restricted,
			target: fakeTarget{runAs: exited("2026/12/03 fixture: open /data/state: read-only file system")},
			words:  []string{"open /data/state: read-only file system", "readOnlyRootFilesystem", "emptyDir", "exited with code 1"}},
		{name: "reads a file only its own user may", check: restricted,
			target: fakeTarget{runAs: exited("open /data/config.json: permission denied")},
			words:  []string{"open /data/config.json: permission denied as uid 1000680000 in group 0", "chmod g=u"}},
		{name: "needs a capability", check: restricted,
			target: fakeTarget{runAs: exited("chown /var/run/x: operation not permitted")},
			words:  []string{"operation not permitted", "capability"}},
		{name: "fails for a reason of its own", check: restricted,
			target: fakeTarget{runAs: exited("panic: no config")},
			words:  []string{"as uid 1000680000 in group 0", "exited with code 1", "panic: no config"}},
		{name: "cannot start", check: restricted, target: fakeTarget{},
			words: []string{"start the service under the restricted profile"}},
	})
}

// TestRestrictedProfile: the profile is what the restricted Pod Security
// Standard asks, the container is removed, and the setting turns it off.
func TestRestrictedProfile(t *testing.T) {
	svc := &fakeTarget{st: state{Running: true}, probe: map[string]probeAnswer{"wait": {0, "ready"}}}
	f := &fakeTarget{runAs: svc}
	s := liveSubject(f)
	restricted(context.Background(), s)
	p := f.ranAs
	if p == nil || p.User != "1000680000:0" || !p.ReadOnlyRoot || p.Tmpfs["/tmp"] == "" || len(p.CapDrop) != 1 || p.CapDrop[0] != "ALL" || !p.NoNewPrivileges {
		t.Errorf("profile %+v", p)
	}
	if !svc.removed {
		t.Error("the restricted container was not removed")
	}
	s.set.Restricted = false
	if rows := restricted(context.Background(), s); rows != nil {
		t.Errorf("SLIMAGE_VERIFY_RESTRICTED=false: rows %+v", rows)
	}
}
