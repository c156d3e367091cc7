package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/connhelper"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	"github.com/moby/moby/client"
)

// Endpoint is a container engine's API address and why slimage picked it.
type Endpoint struct {
	Host    string // unix:///..., tcp://host:port, ssh://user@host
	Why     string // "DOCKER_HOST", `Docker context "colima" (DOCKER_CONTEXT)`, ...
	Context string // the Docker context it comes from, "" for none
	// TLS, for a tcp:// context with TLS material: the folder that holds
	// its ca.pem, cert.pem and key.pem, as DOCKER_CERT_PATH would.
	CertPath  string
	SkipTLS   bool // the context says skip verification
	fallbacks bool // one of the usual sockets, tried because nothing was chosen
	opts      []client.Opt
}

// Resolve finds the endpoint the way the Docker CLI does: DOCKER_HOST
// (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), else DOCKER_CONTEXT, else
// the current context in $DOCKER_CONFIG/config.json (~/.docker), read from
// the Docker CLI's context store. Where none of those chooses, the default
// context, it returns the usual sockets in the order to try: Docker's, then
// rootless Docker's and Podman's.
func Resolve() ([]Endpoint, error) {
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		ep := Endpoint{Host: host, Why: "DOCKER_HOST", opts: []client.Opt{client.FromEnv}}
		scheme, _, _ := strings.Cut(host, "://")
		h, err := connhelper.GetConnectionHelper(host)
		if err != nil || !knownSchemes[scheme] {
			cause := "not an engine address"
			if err != nil {
				cause = FirstLine(err)
			}
			return nil, fmt.Errorf("check DOCKER_HOST=%s: %s: write unix:///path/to.sock, tcp://host:port or ssh://user@host", host, cause)
		}
		if h != nil { // ssh://: the Docker CLI's helper runs ssh host docker system dial-stdio
			ep.opts = helperOpts(h)
		}
		return []Endpoint{ep}, nil
	}
	dir := ConfigDir()
	name, why := os.Getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	if name == "" {
		cfg, err := config.Load(dir)
		if err != nil {
			return nil, fmt.Errorf("read the Docker CLI's configuration %s: %s: fix or remove it", filepath.Join(dir, "config.json"), FirstLine(err))
		}
		name, why = cfg.CurrentContext, "the current context in "+filepath.Join(dir, "config.json")
	}
	if name != "" && name != "default" {
		ep, err := fromContext(dir, name)
		if err != nil {
			return nil, err
		}
		ep.Why = fmt.Sprintf("Docker context %q (%s)", name, why)
		return []Endpoint{ep}, nil
	}
	return defaultSockets(), nil
}

// knownSchemes are the endpoint schemes Docker's client and CLI dial.
var knownSchemes = map[string]bool{"unix": true, "tcp": true, "ssh": true, "npipe": true, "http": true, "https": true}

// ConfigDir is the Docker CLI's configuration folder: $DOCKER_CONFIG, else
// ~/.docker. Not docker/cli's config.Dir: that one reads DOCKER_CONFIG once
// per process, and Connect settles again when DOCKER_CONFIG changes.
func ConfigDir() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return dir
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

// fromContext reads a context from the Docker CLI's store under dir.
func fromContext(dir, name string) (Endpoint, error) {
	s := store.New(filepath.Join(dir, "contexts"), store.NewConfig(
		func() any { return &map[string]any{} },
		store.EndpointTypeGetter(docker.DockerEndpoint, func() any { return &docker.EndpointMeta{} })))
	meta, err := s.GetMetadata(name)
	if err != nil {
		hint := "create it (docker context create " + name + " --docker host=...), or choose another with docker context use"
		if !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "not found") {
			hint = "fix it with docker context inspect " + name
		}
		return Endpoint{}, fmt.Errorf("read Docker context %q from %s: %s: %s", name, filepath.Join(dir, "contexts"), FirstLine(err), hint)
	}
	em, err := docker.EndpointFromContext(meta)
	if err != nil || em.Host == "" {
		return Endpoint{}, fmt.Errorf("read Docker context %q: it names no Docker endpoint: docker context update %s --docker host=...", name, name)
	}
	withTLS, err := docker.WithTLSData(s, name, em)
	if err != nil {
		return Endpoint{}, fmt.Errorf("read Docker context %q's TLS files: %s: fix it with docker context update %s", name, FirstLine(err), name)
	}
	opts, err := withTLS.ClientOpts() // TLS, and ssh:// through the Docker CLI's helper
	if err != nil {
		return Endpoint{}, fmt.Errorf("read Docker context %q: %s: fix it with docker context update %s", name, FirstLine(err), name)
	}
	ep := Endpoint{Host: em.Host, Context: name, SkipTLS: em.SkipTLSVerify, opts: opts}
	if withTLS.TLSData != nil {
		ep.CertPath = filepath.Join(s.GetStorageInfo(name).TLSPath, docker.DockerEndpoint)
	}
	return ep, nil
}

// defaultSockets are the usual places of an engine nobody pointed at, in
// the order slimage tries them.
func defaultSockets() []Endpoint {
	socket := func(host, why string) Endpoint {
		return Endpoint{Host: host, Why: why, fallbacks: true, opts: []client.Opt{client.WithHost(host)}}
	}
	eps := []Endpoint{socket(client.DefaultDockerHost, "the default socket")}
	if run := os.Getenv("XDG_RUNTIME_DIR"); run != "" {
		eps = append(eps,
			socket("unix://"+filepath.Join(run, "docker.sock"), "rootless Docker's socket"),
			socket("unix://"+filepath.Join(run, "podman", "podman.sock"), "rootless Podman's socket"))
	}
	return append(eps, socket("unix:///run/podman/podman.sock", "Podman's socket"))
}

func helperOpts(h *connhelper.ConnectionHelper) []client.Opt {
	return []client.Opt{
		client.WithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: h.Dialer}}),
		client.WithHost(h.Host), client.WithDialContext(h.Dialer)}
}

// env is what another Docker client in this process (testcontainers-go's)
// needs to reach ep the same way.
func (ep Endpoint) env(host string) map[string]string {
	e := map[string]string{"DOCKER_HOST": host}
	if ep.CertPath != "" {
		e["DOCKER_CERT_PATH"] = ep.CertPath
		if !ep.SkipTLS {
			e["DOCKER_TLS_VERIFY"] = "1"
		}
	}
	return e
}
