package targets_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slimage/slimage/internal/testkit"
)

// The engine slimage uses is the one the Docker CLI would use: with
// DOCKER_HOST unset, the current context in $DOCKER_CONFIG/config.json, or
// DOCKER_CONTEXT; image, verify and verify's containers (testcontainers-go)
// all go through it. A context whose engine does not answer is a one-line
// error naming the context.
func TestEngineFromTheDockerContext(t *testing.T) {
	magefile := compiledMagefile(t)
	proxy := testkit.NewEngineProxy(t)
	cfg := t.TempDir()
	docker := func(args ...string) {
		t.Helper()
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg)
		testkit.Run(t, cmd)
	}
	docker("context", "create", "slimage-proxy", "--docker", "host=unix://"+proxy.Socket)
	docker("context", "create", "slimage-nowhere", "--docker", "host=unix://"+filepath.Join(cfg, "nothing.sock"))
	ref := "slimage-test/hello:context"
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
	// A label of this test's own: an image Docker already holds (another
	// test's, or the README's run, of the same sources) is tagged, not loaded.
	env := []string{"DOCKER_HOST=", "DOCKER_CONFIG=" + cfg, "SLIMAGE_IMAGE=" + ref,
		"SLIMAGE_LABELS=" + testkit.RunLabel + "=" + testkit.RunID + "-context"}
	run := func(more []string, args ...string) (string, error) {
		cmd := repoMage(t, magefile, append(env, more...), args...)
		cmd.Path = magefile
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	t.Run("current context", func(t *testing.T) {
		docker("context", "use", "slimage-proxy")
		defer docker("context", "use", "default")
		out, err := run(nil, "-v", "image", "verify")
		if err != nil {
			t.Fatalf("mage image verify through the current context: %v\n%s", err, out)
		}
		want := `engine unix://` + proxy.Socket + ` (Docker context "slimage-proxy" (the current context in ` + filepath.Join(cfg, "config.json") + `))`
		if !strings.Contains(out, want) {
			t.Errorf("mage -v did not say %q:\n%s", want, out)
		}
		for _, req := range [][2]string{{"POST", "/images/load"}, {"POST", "/containers/create"}} {
			if !proxy.Saw(req[0], req[1]) {
				t.Errorf("no %s ...%s went through the context's engine", req[0], req[1])
			}
		}
		if !proxy.Contains("User-Agent: tc-go/") || !strings.Contains(out, "Resolved Docker Host: unix://"+proxy.Socket) {
			t.Error("testcontainers-go's requests did not go through the context's engine")
		}
		if strings.Contains(out, "/var/run/docker.sock") {
			t.Errorf("the default socket was named:\n%s", out)
		}
	})
	t.Run("DOCKER_CONTEXT", func(t *testing.T) {
		proxy.Reset()
		if out, err := run([]string{"DOCKER_CONTEXT=slimage-proxy"}, "verify"); err != nil {
			t.Fatalf("mage verify with DOCKER_CONTEXT: %v\n%s", err, out)
		}
		if !proxy.Saw("POST", "/containers/create") || !proxy.Contains("User-Agent: tc-go/") {
			t.Error("verify's containers did not go through the context DOCKER_CONTEXT names")
		}
	})
	t.Run("a context whose engine does not answer", func(t *testing.T) {
		out, err := run([]string{"DOCKER_CONTEXT=slimage-nowhere"}, "image")
		if err == nil {
			t.Fatalf("mage image with a context that points at nothing passed:\n%s", out)
		}
		want := `Error: connect to the container engine at unix://` + filepath.Join(cfg, "nothing.sock") + ` (Docker context "slimage-nowhere" (DOCKER_CONTEXT)): `
		if !strings.Contains(out, want) || !strings.Contains(out, "docker context use") {
			t.Errorf("the error does not name the context and the fix; want %q in:\n%s", want, out)
		}
	})
}

// podmanService starts Podman's Docker-compatible API on a socket of the
// test's own and returns its DOCKER_HOST. Inside a container sandbox
// Podman's containers need ulimits no higher than the service's own (see
// DESIGN.md), given in a containers.conf of the test's.
func podmanService(t *testing.T) string {
	t.Helper()
	podman, err := exec.LookPath("podman")
	if err != nil {
		testkit.Unavailable(t, "podman is missing", "apt-get install podman; .ci/run does")
	}
	dir, err := os.MkdirTemp("", "slimage-podman-") // short: a socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	nofile, nproc := rlimit(syscall.RLIMIT_NOFILE, 20000), rlimit(6 /* RLIMIT_NPROC */, 32768)
	conf := filepath.Join(dir, "containers.conf")
	testkit.WriteFiles(t, dir, map[string]string{"containers.conf": fmt.Sprintf(
		"[containers]\ndefault_ulimits = [\"nofile=%d:%d\", \"nproc=%d:%d\"]\n", nofile, nofile, nproc, nproc)})
	socket := filepath.Join(dir, "podman.sock")
	cmd := exec.Command(podman, "system", "service", "--time=0", "unix://"+socket)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ping := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}, Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if res, err := ping.Get("http://podman/_ping"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return "unix://" + socket
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("podman system service did not answer on %s within 30s:\n%s", socket, log.String())
		}
	}
}

// rlimit is the soft limit of resource r, at most max.
func rlimit(r int, max uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(r, &l); err == nil && l.Cur < max {
		return l.Cur
	}
	return max
}

// Podman serves the Docker Engine API: the sample's image is built by it
// (Docker's builder path), assembled and loaded for two platforms (the OCI
// path), and every verify check passes in its containers.
func TestPodman(t *testing.T) {
	magefile := compiledMagefile(t)
	host := podmanService(t)
	ref := "slimage-test/hello:podman"
	t.Cleanup(func() {
		for _, r := range []string{ref, ref + "-oci", ref + "-oci-linux_arm64"} {
			exec.Command("podman", "rmi", "-f", r).Run()
		}
	})
	run := func(env []string, args ...string) string {
		t.Helper()
		cmd := repoMage(t, magefile, append([]string{"DOCKER_HOST=" + host}, env...), args...)
		cmd.Path = magefile
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mage %s through Podman: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run([]string{"SLIMAGE_IMAGE=" + ref, "SLIMAGE_BUILDER=docker"}, "-v", "image", "verify")
	if !strings.Contains(out, "engine "+host+" (DOCKER_HOST)") || !strings.Contains(out, "verify "+ref+" linux/amd64") {
		t.Errorf("the Docker builder path did not go through Podman:\n%s", out)
	}
	out = run([]string{"SLIMAGE_IMAGE=" + ref + "-oci", "SLIMAGE_PLATFORMS=linux/amd64,linux/arm64"}, "verify")
	for _, want := range []string{"verify " + ref + "-oci linux/amd64", "verify " + ref + "-oci-linux_arm64 linux/arm64"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the OCI path's output:\n%s", want, out)
		}
	}
}

// An ssh:// engine is reached through the Docker CLI's ssh helper (ssh
// <host> docker system dial-stdio); verify's containers (testcontainers-go)
// go through a local relay of it, and the probe is copied into them, since
// a remote engine cannot mount this machine's files. ssh here is a
// stand-in that runs dial-stdio against the local daemon.
func TestEngineOverSSH(t *testing.T) {
	magefile := compiledMagefile(t)
	testkit.NeedEmulation(t)
	// The stand-in's engine is the real daemon behind a counting proxy, to
	// see what the remote engine was asked.
	proxy := testkit.NewEngineProxy(t)
	bin := t.TempDir()
	ssh := filepath.Join(bin, "ssh")
	if err := os.WriteFile(ssh, []byte("#!/bin/sh\nDOCKER_HOST='unix://"+proxy.Socket+"' exec docker system dial-stdio\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	relaysBefore, _ := filepath.Glob(filepath.Join(os.TempDir(), "slimage-engine-*"))
	ref := "slimage-test/hello:ssh"
	t.Cleanup(func() {
		exec.Command("docker", "rmi", "-f", ref, ref+"-linux_arm64").Run()
	})
	// Two platforms: verify connects once per platform, and each time the
	// engine must still count as remote.
	cmd := repoMage(t, magefile, []string{"DOCKER_HOST=ssh://slimage@engine.invalid", "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"SLIMAGE_IMAGE=" + ref, "SLIMAGE_PLATFORMS=linux/amd64,linux/arm64"}, "-v", "image", "verify")
	cmd.Path = magefile
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mage image verify over ssh: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "engine ssh://slimage@engine.invalid (DOCKER_HOST)") || !strings.Contains(string(out), "verify "+ref+"-linux_arm64 linux/arm64") {
		t.Errorf("image and verify did not go over ssh:\n%s", out)
	}
	if !proxy.Saw("POST", "/containers/create") || !proxy.Contains("User-Agent: tc-go/") {
		t.Error("verify's containers did not go over ssh")
	}
	if proxy.Contains(":/slimage-probe:ro") {
		t.Error("the probe was bind-mounted from this machine into a remote engine: it must be copied in")
	}
	if relaysAfter, _ := filepath.Glob(filepath.Join(os.TempDir(), "slimage-engine-*")); len(relaysAfter) > len(relaysBefore) {
		t.Errorf("the ssh relay's folder was left behind: %v", relaysAfter)
	}
}
