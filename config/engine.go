package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

// The container engine is chosen the way the Docker CLI chooses it:
// DOCKER_HOST, else DOCKER_CONTEXT, else the current context in the Docker
// CLI's config.json (the engine's images/daemon does the choosing and the
// connecting). CheckContainerEngine checks those settings before any
// work, without connecting, so a run that cannot reach an engine stops
// before deps and build.

// dockerHostSchemes are the engine addresses Docker's client dials.
var dockerHostSchemes = map[string]bool{"unix": true, "tcp": true, "ssh": true, "npipe": true, "http": true, "https": true}

// CheckDockerHost checks DOCKER_HOST's form.
func CheckDockerHost(host string) error {
	if cause := hostCause(host); cause != "" {
		return fmt.Errorf("check DOCKER_HOST=%s: %s: write unix:///path/to.sock, tcp://host:port or ssh://user@host", host, cause)
	}
	return nil
}

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == s
}

// hostCause says what is wrong with an engine address, or "".
func hostCause(host string) string {
	u, err := url.Parse(host)
	cause := ""
	switch {
	case err != nil:
		cause = "not a URL"
	case !dockerHostSchemes[u.Scheme]:
		cause = "not an engine address"
	case (u.Scheme == "unix" || u.Scheme == "npipe") && u.Path == "":
		cause = "no socket path"
	case u.Scheme != "unix" && u.Scheme != "npipe" && u.Host == "":
		cause = "no host"
	case u.Port() != "" && !isPort(u.Port()):
		cause = "port " + u.Port() + " is not a port number (1 to 65535)"
	}
	return cause
}

// DockerConfigDir is the Docker CLI's configuration folder: $DOCKER_CONFIG,
// else ~/.docker.
func DockerConfigDir(getenv func(string) string) string {
	if dir := getenv("DOCKER_CONFIG"); dir != "" {
		return dir
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

// CheckContainerEngine checks, without connecting, that the settings that
// choose the container engine name one: DOCKER_HOST's form, else that the
// context DOCKER_CONTEXT or config.json names exists in the Docker CLI's
// context store, and that config.json parses.
func CheckContainerEngine(getenv func(string) string) error {
	if host := getenv("DOCKER_HOST"); host != "" {
		return CheckDockerHost(host)
	}
	dir := DockerConfigDir(getenv)
	name, why := getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	cfgPath := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(cfgPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read the Docker CLI's configuration %s: %v: fix or remove it", cfgPath, errors.Unwrap(err))
	default:
		var cfg struct {
			CurrentContext string `json:"currentContext"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return fmt.Errorf("read the Docker CLI's configuration %s: %v: fix or remove it", cfgPath, err)
		}
		if name == "" {
			name, why = cfg.CurrentContext, "the current context in "+cfgPath
		}
	}
	if name == "" || name == "default" {
		return nil
	}
	// The Docker CLI's context store keeps a context's metadata under the
	// SHA-256 of its name.
	sum := sha256.Sum256([]byte(name))
	meta := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json")
	data, err = os.ReadFile(meta)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check Docker context %q (%s): there is no such context in %s: create it (docker context create %s --docker host=...), or choose another with docker context use", name, why, filepath.Join(dir, "contexts"), name)
	}
	if err != nil {
		return fmt.Errorf("read Docker context %q (%s): %v: fix it with docker context inspect %s", name, why, errors.Unwrap(err), name)
	}
	var m struct {
		Endpoints map[string]struct{ Host string }
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("read Docker context %q (%s): %s: %v: fix it with docker context inspect %s", name, why, meta, err, name)
	}
	host := m.Endpoints["docker"].Host
	if host == "" {
		return fmt.Errorf("read Docker context %q: it names no Docker endpoint: docker context update %s --docker host=...", name, name)
	}
	if cause := hostCause(host); cause != "" {
		return fmt.Errorf("read Docker context %q: its host %s: %s: docker context update %s --docker host=unix:///path/to.sock", name, host, cause, name)
	}
	return nil
}
