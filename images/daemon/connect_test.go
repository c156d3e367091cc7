package daemon

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/client"
)

// With nothing chosen and no engine at any usual socket, the error lists
// every socket tried, in order; a chosen engine that does not answer is
// named alone.
func TestConnectSaysWhatItTried(t *testing.T) {
	dir := t.TempDir()
	socket := func(name, why string, fallback bool) Endpoint {
		host := "unix://" + filepath.Join(dir, name)
		return Endpoint{Host: host, Why: why, fallbacks: fallback, opts: []client.Opt{client.WithHost(host)}}
	}
	_, err := connect(context.Background(), []Endpoint{
		socket("docker.sock", "the default socket", true),
		socket("podman.sock", "Podman's socket", true)}, io.Discard)
	want := "tried DOCKER_HOST (unset), the Docker context (none chosen), then unix://" + filepath.Join(dir, "docker.sock") +
		" (the default socket), unix://" + filepath.Join(dir, "podman.sock") + " (Podman's socket): start Docker"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err %v, want it to contain %q", err, want)
	}

	chosen := socket("colima.sock", `Docker context "colima" (DOCKER_CONTEXT)`, false)
	chosen.Context = "colima"
	_, err = connect(context.Background(), []Endpoint{chosen, socket("docker.sock", "the default socket", true)}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `colima.sock (Docker context "colima" (DOCKER_CONTEXT)): dial unix`) ||
		strings.Contains(err.Error(), "docker.sock") || !strings.Contains(err.Error(), "docker context use") {
		t.Errorf("a chosen engine that does not answer: %v", err)
	}
}
