package verify

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/slimage/slimage/gobuild"
)

// binary proves the entrypoint inside the image is an executable for the
// image's platform. On this host a binary of the host's architecture runs
// natively whatever the image's config says, so start alone would pass an
// amd64 binary in an image labelled arm64 that dies with "exec format
// error" on an arm64 node. A dynamic binary must find its loader in the
// image (a scratch image has none).
func binary(ctx context.Context, s *subject) []Check { return []Check{binaryCheck(ctx, s)} }

func binaryCheck(ctx context.Context, s *subject) Check {
	want := s.p.OS + "/" + s.p.Arch
	ch := Check{Name: CheckBinary, Expected: "executable for " + want}
	file, err := s.entrypointPath(ctx)
	if err != nil {
		ch.Got, ch.Cause = "none", "binary: "+err.Error()
		return ch
	}
	data, err := s.t.ReadFile(ctx, file)
	if err != nil {
		ch.Got, ch.Cause = "unreadable", fmt.Sprintf("binary: read %s from the image: %v: make the entrypoint a file in the image", file, err)
		return ch
	}
	facts, err := gobuild.ReadBinaryFacts(bytes.NewReader(data))
	if err != nil {
		ch.Got, ch.Cause = "not an executable", fmt.Sprintf("binary: %s %v: make the entrypoint the service's binary", file, err)
		return ch
	}
	ch.Got = facts.String()
	if facts.OS+"/"+facts.Arch != want {
		ch.Cause = fmt.Sprintf("binary: %s is a %s executable but the image says %s: on a %s node it fails with 'exec format error': build it with GOOS=%s GOARCH=%s (slimage's build does, per platform)", file, facts.OS+"/"+facts.Arch, want, want, s.p.OS, s.p.Arch)
		return ch
	}
	if facts.Interp != "" {
		if !s.t.Exists(ctx, facts.Interp) {
			ch.Cause = fmt.Sprintf("binary: %s is dynamically linked and needs %s, which the image lacks: it fails with 'no such file or directory': build with CGO_ENABLED=0 for a static binary", file, facts.Interp)
			return ch
		}
	}
	ch.Pass = true
	return ch
}

// entrypointPath is the file the container runtime executes: the first
// word of the entrypoint (or of the command), found the way exec finds it.
func (s *subject) entrypointPath(ctx context.Context) (string, error) {
	argv := append(append([]string{}, s.image.Entrypoint...), s.image.Cmd...)
	if len(argv) == 0 || argv[0] == "" {
		return "", fmt.Errorf("the image has neither an entrypoint nor a command: set ENTRYPOINT")
	}
	name := argv[0]
	switch {
	case path.IsAbs(name):
		return name, nil
	case strings.Contains(name, "/"):
		return path.Join("/", s.image.WorkDir, name), nil
	}
	dirs := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range s.image.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			dirs = v
		}
	}
	for _, d := range strings.Split(dirs, ":") {
		if d == "" {
			continue
		}
		p := path.Join(d, name)
		if s.t.Exists(ctx, p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("the entrypoint %q is not found on the image's PATH (%s): give its absolute path", name, dirs)
}
