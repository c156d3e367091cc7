package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"

	"github.com/slimage/slimage/images/daemon"
)

// dockerConfig makes a Docker CLI configuration folder with contexts named
// after their hosts, and a config.json choosing current (if any).
func dockerConfig(t *testing.T, current string, contexts map[string]string) string {
	dir := t.TempDir()
	s := store.New(filepath.Join(dir, "contexts"), store.NewConfig(
		func() any { return &map[string]any{} },
		store.EndpointTypeGetter(docker.DockerEndpoint, func() any { return &docker.EndpointMeta{} })))
	for name, host := range contexts {
		err := s.CreateOrUpdate(store.Metadata{Name: name, Metadata: map[string]any{},
			Endpoints: map[string]any{docker.DockerEndpoint: docker.EndpointMeta{Host: host}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if current != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext":"`+current+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Resolve follows the Docker CLI: DOCKER_HOST, then DOCKER_CONTEXT, then
// the current context in config.json; only where none chooses, the usual
// sockets, Docker's first.
func TestResolveFollowsTheDockerCLI(t *testing.T) {
	contexts := map[string]string{"colima": "unix:///colima/docker.sock", "remote": "tcp://192.0.2.1:2376"}
	tests := []struct {
		name                  string
		host, context, config string // DOCKER_HOST, DOCKER_CONTEXT, currentContext
		want                  []string
		why                   string
		err                   string
	}{
		{name: "DOCKER_HOST wins", host: "unix:///explicit.sock", context: "colima", config: "remote",
			want: []string{"unix:///explicit.sock"}, why: "DOCKER_HOST"},
		{name: "DOCKER_CONTEXT before config.json", context: "colima", config: "remote",
			want: []string{"unix:///colima/docker.sock"}, why: `Docker context "colima" (DOCKER_CONTEXT)`},
		{name: "the current context", config: "remote",
			want: []string{"tcp://192.0.2.1:2376"}, why: `Docker context "remote" (the current context in `},
		{name: "the default context", context: "default", config: "remote",
			want: []string{"unix:///var/run/docker.sock", "unix:///run/user/1000/docker.sock", "unix:///run/user/1000/podman/podman.sock", "unix:///run/podman/podman.sock"},
			why:  "the default socket"},
		{name: "nothing chosen",
			want: []string{"unix:///var/run/docker.sock", "unix:///run/user/1000/docker.sock", "unix:///run/user/1000/podman/podman.sock", "unix:///run/podman/podman.sock"},
			why:  "the default socket"},
		{name: "a context that does not exist", context: "gone", err: `read Docker context "gone"`},
		{name: "DOCKER_HOST that is no address", host: "ftp://engine", err: "check DOCKER_HOST=ftp://engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DOCKER_CONFIG", dockerConfig(t, tt.config, contexts))
			t.Setenv("DOCKER_HOST", tt.host)
			t.Setenv("DOCKER_CONTEXT", tt.context)
			t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
			eps, err := daemon.Resolve()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var hosts []string
			for _, ep := range eps {
				hosts = append(hosts, ep.Host)
			}
			if strings.Join(hosts, " ") != strings.Join(tt.want, " ") {
				t.Errorf("tries %v, want %v", hosts, tt.want)
			}
			if !strings.HasPrefix(eps[0].Why, tt.why) {
				t.Errorf("why %q, want it to start with %q", eps[0].Why, tt.why)
			}
		})
	}
}
