// Package daemon finds the container engine slimage talks to and connects
// to it through Docker's Go client.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/docker/cli/cli/connhelper"
	"github.com/moby/moby/client"
)

// Connect returns a client for the container engine's API, the Docker
// Engine API that Docker and Podman serve. slimage talks to it through
// Docker's Go client rather than the docker CLI: the client is already in
// the module graph through testcontainers-go (which verify uses), errors
// come back as values instead of CLI text, and build, inspect, save and run
// all reach the very same engine.
//
// The engine is the one Resolve finds; the first that answers is also
// handed to testcontainers-go (through this process's DOCKER_HOST), so
// verify's containers run there too. progress (mage -v) hears once which
// engine it is, and why.
func Connect(ctx context.Context, progress io.Writer) (*client.Client, error) {
	connection.Lock()
	chosen := connection.ep
	if chosen != nil && connection.env != engineEnv() {
		// The caller pointed elsewhere since (a program, or a test, that
		// sets DOCKER_HOST): settle again.
		chosen = nil
		connection.ep = nil
		if connection.fwd != nil {
			connection.fwd.close()
			connection.fwd = nil
		}
	}
	connection.Unlock()
	if chosen != nil {
		// The engine this process settled on, dialled as the first time
		// (an ssh:// one through the helper, not the relay: the relay is
		// for testcontainers-go, and this client must still know the engine
		// is remote).
		return connect(ctx, []Endpoint{*chosen}, progress)
	}
	eps, err := Resolve()
	if err != nil {
		return nil, err
	}
	return connect(ctx, eps, progress)
}

// connect returns a client for the first of eps that answers.
func connect(ctx context.Context, eps []Endpoint, progress io.Writer) (*client.Client, error) {
	var tried []string
	for _, ep := range eps {
		cli, err := client.New(append(ep.opts, client.WithAPIVersionNegotiation())...)
		if err == nil {
			if _, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err == nil {
				if err = share(ep, progress); err == nil {
					return cli, nil
				}
			}
			cli.Close()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !ep.fallbacks {
			hint := "start Docker there, or set DOCKER_HOST to an engine that runs"
			if ep.Context != "" {
				hint = "start the engine that context points at, or choose another (docker context use <name>, or DOCKER_CONTEXT)"
			}
			return nil, fmt.Errorf("connect to the container engine at %s (%s): %s: %s", ep.Host, ep.Why, dialCause(err), hint)
		}
		tried = append(tried, ep.Host+" ("+ep.Why+")")
	}
	return nil, fmt.Errorf("connect to the container engine: none answers; tried DOCKER_HOST (unset), the Docker context (none chosen), then %s: start Docker (or Podman: podman system service), or point DOCKER_HOST or a Docker context at one that runs", strings.Join(tried, ", "))
}

// dialCause is the network's own words when it is the network that failed
// ("dial unix /run/x.sock: connect: no such file or directory"); Docker's
// client wraps them in a paragraph of advice.
func dialCause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Error()
	}
	return FirstLine(err)
}

// connection is the engine this process settled on: every step in it
// talks to the same one, and says which once.
var connection struct {
	sync.Mutex
	ep  *Endpoint
	env string // engineEnv once settled (with what share exported)
	fwd *forwarder
}

// engineEnv is the environment that chooses the engine.
func engineEnv() string {
	return os.Getenv("DOCKER_HOST") + "\x00" + os.Getenv("DOCKER_CONTEXT") + "\x00" + os.Getenv("DOCKER_CONFIG")
}

// share makes ep the engine of this process: testcontainers-go finds it in
// DOCKER_HOST (with the context's TLS files in DOCKER_CERT_PATH); an ssh://
// engine, which testcontainers-go cannot dial, through a local socket that
// relays to it.
func share(ep Endpoint, progress io.Writer) error {
	connection.Lock()
	defer connection.Unlock()
	if connection.ep != nil {
		return nil
	}
	host := ep.Host
	if strings.HasPrefix(host, "ssh://") {
		h, err := connhelper.GetConnectionHelper(host)
		if err != nil {
			return err
		}
		if connection.fwd, err = forward(h.Dialer); err != nil {
			return fmt.Errorf("relay %s for verify's containers: %w", host, err)
		}
		host = "unix://" + connection.fwd.socket()
	}
	if ep.Why != "DOCKER_HOST" || host != ep.Host {
		for k, v := range ep.env(host) {
			os.Setenv(k, v)
		}
	}
	connection.ep, connection.env = &ep, engineEnv()
	fmt.Fprintf(progress, "engine %s (%s)\n", ep.Host, ep.Why)
	return nil
}

// Close stops what Connect started in this process (the ssh relay).
func Close() {
	connection.Lock()
	defer connection.Unlock()
	if connection.fwd != nil {
		connection.fwd.close()
		connection.fwd = nil
	}
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
