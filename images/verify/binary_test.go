package verify

import (
	"bytes"
	"os"
	"runtime"
	"testing"

	"github.com/slimage/slimage/gobuild"
)

// TestBinary: the entrypoint's executable,
// against a fake service.
func TestBinary(t *testing.T) {
	self, facts := selfBinary(t)
	withSelf := func(f *fakeTarget) {
		f.files = map[string][]byte{"/app/hello": self}
		if facts.Interp != "" { // a test binary built with cgo
			f.files[facts.Interp] = nil
		}
	}
	testLive(t, []liveCase{
		{name: "binary of the platform", check: binary, target: fakeTarget{}, change: func(s *subject) { withSelf(s.t.(*fakeTarget)) },
			pass: true, words: []string{facts.String()}},
		{name: "binary of another architecture", check: binary, target: fakeTarget{}, change: func(s *subject) {
			withSelf(s.t.(*fakeTarget))
			s.p.Arch = "s390x"
		}, words: []string{"is a " + runtime.GOOS + "/" + runtime.GOARCH + " executable but the image says " + runtime.GOOS + "/s390x", "exec format error"}},
		{name: "entrypoint not on PATH", check: binary, target: fakeTarget{}, change: func(s *subject) { s.image.Entrypoint = []string{"hello"} },
			words: []string{`the entrypoint "hello" is not found on the image's PATH`}},
	})
}

// selfBinary is the test binary: a real executable of this machine's
// platform, and its facts.
func selfBinary(t *testing.T) ([]byte, gobuild.BinaryFacts) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	facts, err := gobuild.ReadBinaryFacts(bytes.NewReader(self))
	if err != nil {
		t.Fatal(err)
	}
	return self, facts
}
