// Package daemon finds the container engine slimage talks to and connects
// to it through Docker's Go client.
package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Connect returns a client for the Docker Engine API. slimage talks to the
// Engine API through Docker's Go client rather than the docker CLI: the
// client is already in the module graph through testcontainers-go (which
// verify uses), errors come back as values instead of CLI text, and build,
// inspect, save and run all reach the very same daemon.
//
// DOCKER_HOST, when set, is the user's explicit choice and is used as is,
// and so is the default socket when no Docker context is selected (the
// common case, and ~30 ms cheaper). Otherwise testcontainers-go finds the
// daemon the way it does for verify: the current Docker context, then the
// other usual sockets.
func Connect(ctx context.Context) (*client.Client, error) {
	hint := "start Docker, or set DOCKER_HOST to a daemon that runs"
	host := os.Getenv("DOCKER_HOST")
	if host != "" || !dockerContextSelected() {
		cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
		if err == nil {
			if _, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err == nil {
				return cli, nil
			}
			cli.Close()
		}
		if host != "" {
			return nil, fmt.Errorf("connect to Docker at DOCKER_HOST=%s: %s: %s", host, FirstLine(err), hint)
		}
	}
	tc, err := testcontainers.NewDockerClientWithOpts(ctx, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("connect to Docker: no daemon answers (looked at DOCKER_HOST (unset), the current Docker context and the default sockets such as /var/run/docker.sock): %s", hint)
	}
	return tc.Client, nil
}

// dockerContextSelected reports whether DOCKER_CONTEXT or the docker CLI's
// config names a context other than "default".
func dockerContextSelected() bool {
	if c := os.Getenv("DOCKER_CONTEXT"); c != "" {
		return c != "default"
	}
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return false
	}
	var cfg struct{ CurrentContext string }
	return json.Unmarshal(data, &cfg) == nil && cfg.CurrentContext != "" && cfg.CurrentContext != "default"
}

// FirstLine is an error's first line: Docker's errors can run to many, and
// slimage's causes are one.
func FirstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// Platform is the os/arch the daemon builds and runs natively.
func Platform(ctx context.Context, cli *client.Client) (string, error) {
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", fmt.Errorf("ask Docker for its platform: %s", FirstLine(err))
	}
	arch := info.Info.Architecture
	switch arch { // uname -m spelling → GOARCH
	case "x86_64":
		arch = "amd64"
	case "aarch64":
		arch = "arm64"
	case "i386", "i686":
		arch = "386"
	case "armv7l", "armv6l":
		arch = "arm"
	}
	return info.Info.OSType + "/" + arch, nil
}

// SharesFiles reports whether the daemon can bind-mount this machine's
// files: it listens on a local socket (Docker Desktop, Colima and Podman
// machines share the user's home, where slimage's cache is), not on TCP
// or SSH.
func SharesFiles(cli *client.Client) bool {
	host := cli.DaemonHost()
	return strings.HasPrefix(host, "unix://") || strings.HasPrefix(host, "npipe://")
}
