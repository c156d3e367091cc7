package images

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/testcontainers/testcontainers-go"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/human"
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
			return nil, fmt.Errorf("connect to Docker at DOCKER_HOST=%s: %s: %s", host, firstLine(err), hint)
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

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// Built is the result of a build.
type Built struct {
	Ref       string
	Platform  config.Platform
	ID        string
	Size      int64 // the image's size as the daemon reports it
	Unchanged bool  // ref already was this context's image: nothing was built
}

// ContextLabel carries the staged context's digest on the image. It is set
// by the build call, not written in the Dockerfile, so the Dockerfile stays
// the same for a given spec and a user's own build of it is unaffected.
const ContextLabel = "com.github.slimage.context"

// BuildWithDocker builds the staged context and tags it ref. Only the staged
// folder is sent as the build context. The builder's output goes to progress
// (io.Discard for quiet). The tag is applied by the daemon only when the
// build succeeds, so a failed build never leaves ref pointing at a broken
// image.
//
// When ref already names an image built from a context with the same
// digest, nothing is sent: a no-op image step costs one inspect.
func BuildWithDocker(ctx context.Context, cli *client.Client, sc *StagedContext, p config.Platform, ref string, progress io.Writer) (Built, error) {
	want := p.OS + "/" + p.Arch
	if prev, err := cli.ImageInspect(ctx, ref); err == nil && prev.Config != nil &&
		prev.Config.Labels[ContextLabel] == sc.Digest && prev.Os+"/"+prev.Architecture == want {
		fmt.Fprintf(progress, "%s is up to date (context %s)\n", ref, sc.Digest)
		return Built{Ref: ref, Platform: p, ID: prev.ID, Size: prev.Size, Unchanged: true}, nil
	}
	native, err := DaemonPlatform(ctx, cli)
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: %w", ref, err)
	}
	if want != native {
		return Built{}, fmt.Errorf("build image %s: Docker's builder here builds only %s, not %s: set SLIMAGE_PLATFORMS=%s (images for other platforms are not supported yet)", ref, native, p, native)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(sc.Dir, pw)) }()
	defer pr.Close()

	res, err := cli.ImageBuild(ctx, pr, client.ImageBuildOptions{
		Tags: []string{ref}, Dockerfile: "Dockerfile", Remove: true, ForceRemove: true,
		Labels: map[string]string{ContextLabel: sc.Digest},
	})
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: %s", ref, firstLine(err))
	}
	defer res.Body.Close()
	var id string
	tail := &outputTail{}
	err = jsonmessage.DisplayJSONMessagesStream(res.Body, io.MultiWriter(progress, tail), 0, false, func(m jsonstream.Message) {
		var aux struct{ ID string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
			id = aux.ID
		}
	})
	if ctx.Err() != nil {
		return Built{}, ctx.Err()
	}
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: %s (it said: %s) (Dockerfile: %s)", ref, firstLine(err), lastOutput(tail), human.Path(sc.Dockerfile))
	}
	inspect, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: inspect the result: %s", ref, firstLine(err))
	}
	if id == "" {
		id = inspect.ID
	}
	return Built{Ref: ref, Platform: p, ID: id, Size: inspect.Size}, nil
}

// tarDir streams dir as a tar archive, in a stable order.
func tarDir(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		return fmt.Errorf("send build context %s: %w", filepath.Clean(dir), err)
	}
	return tw.Close()
}

// outputTail keeps the last lines a builder printed, less its own
// bookkeeping, so that an error can say what the failing step itself said.
type outputTail struct{ lines []string }

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

func (o *outputTail) Write(p []byte) (int, error) {
	for _, l := range strings.Split(ansiEscape.ReplaceAllString(string(p), ""), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "--->") && !strings.HasPrefix(l, "Removing intermediate container") {
			o.lines = append(o.lines, l)
			if len(o.lines) > 3 {
				o.lines = o.lines[1:]
			}
		}
	}
	return len(p), nil
}

// lastOutput is what the builder printed last before failing.
func lastOutput(o *outputTail) string {
	if len(o.lines) == 0 {
		return "nothing"
	}
	return o.lines[len(o.lines)-1]
}

// DaemonPlatform is the platform the daemon builds and runs natively.
func DaemonPlatform(ctx context.Context, cli *client.Client) (string, error) {
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", fmt.Errorf("ask Docker for its platform: %s", firstLine(err))
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
