package verify

import (
	"testing"
	"time"
)

// TestLifecycle: stays up and stops,
// against a fake service.
func TestLifecycle(t *testing.T) {
	testLive(t, []liveCase{
		{name: "stays up", check: staysUp, target: fakeTarget{st: state{Running: true}}, pass: true, words: []string{"running after"}},
		{name: "a job exits 0", check: staysUp, target: fakeTarget{st: state{ExitCode: 0}}, change: func(s *subject) { s.image.Ports = nil },
			pass: true, words: []string{"exited 0"}},
		{name: "exits after answering", check: staysUp, target: fakeTarget{st: state{ExitCode: 2}, logs: "panic: nil map"},
			words: []string{"exited with code 2", "panic: nil map"}},
		{name: "stops in time", check: stops, target: fakeTarget{st: state{Running: true}, exitAfter: 20 * time.Millisecond},
			pass: true, words: []string{"exited 143 after"}},
		{name: "never stops", check: stops, target: fakeTarget{st: state{Running: true}, exitAfter: -1},
			words: []string{"did not exit within 100ms of SIGTERM", "signal.NotifyContext"}, killed: true},
		{name: "stops late", check: stops, target: fakeTarget{st: state{Running: true}, exitAfter: 150 * time.Millisecond},
			words: []string{"past the 100ms that SLIMAGE_VERIFY_STOP allows"}},
		{name: "stops late under emulation", check: stops, target: fakeTarget{st: state{Running: true}, exitAfter: 150 * time.Millisecond},
			change: func(s *subject) { s.emulated = true }, pass: true, words: []string{"under QEMU emulation"}},
		{name: "emulator as PID 1 drops SIGTERM: not judged", check: stops, target: fakeTarget{st: state{Running: true}, exitAfter: -1},
			change: func(s *subject) { s.emulated = true }, pass: true, words: []string{"not judged"}, killed: true},
		{name: "under an init, the binary ignores SIGTERM", check: stops, target: fakeTarget{st: state{Running: true}, exitAfter: -1},
			change: func(s *subject) { s.emulated, s.initPID1 = true, true }, words: []string{"the binary itself does not exit on SIGTERM"}, killed: true},
	})
}
