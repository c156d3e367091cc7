package verify

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/slimage/slimage/images/daemon"
)

const probePath = "/slimage-probe"

// execProbe runs the probe with args in a container of the image (as the
// image's user, so it sees what the service sees) on network ("host",
// "container:<id>", or "" for the default), and returns its exit code and
// output. The service itself runs through testcontainers-go; the probe's
// short-lived containers go straight through Docker's client, which here
// saves a few hundred milliseconds each (testcontainers connects anew for
// every container). They carry the session's labels like the service's.
func (r *run) execProbe(ctx context.Context, network string, timeout time.Duration, args ...string) (int, string, error) {
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(network)}
	// A daemon on this machine mounts the probe read-only where it is;
	// copying it in instead costs ~0.2 s a container.
	mount := daemon.SharesFiles(r.cli)
	if mount {
		hc.Binds = []string{r.probe + ":" + probePath + ":ro"}
	}
	r.s.wg.Add(1)
	defer r.s.wg.Done()
	created, err := r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: r.ref, Entrypoint: []string{probePath}, Cmd: args,
			Labels: r.s.labels()},
		HostConfig: hc,
	})
	if err != nil {
		return -1, "", fmt.Errorf("create the probe's container: %s", daemon.FirstLine(err))
	}
	id := created.ID
	defer func() {
		rm, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = r.cli.ContainerRemove(rm, id, client.ContainerRemoveOptions{Force: true})
	}()
	if !mount {
		if err := r.copyProbe(ctx, id); err != nil {
			return -1, "", err
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := r.cli.ContainerWait(waitCtx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := r.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return -1, "", fmt.Errorf("start the probe: %s", daemon.FirstLine(err))
	}
	exit := -1
	select {
	case res := <-wait.Result:
		exit = int(res.StatusCode)
	case err := <-wait.Error:
		return -1, "", fmt.Errorf("wait for the probe: %s", daemon.FirstLine(err))
	}
	logs, err := r.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return exit, "", fmt.Errorf("read the probe's output: %s", daemon.FirstLine(err))
	}
	defer logs.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, logs)
	return exit, out.String(), nil
}

// runProbe runs the probe and decodes the JSON on its last line into v.
func (r *run) runProbe(ctx context.Context, network string, v any, args ...string) error {
	exit, out, err := r.execProbe(ctx, network, 2*time.Minute, args...)
	if err != nil {
		return fmt.Errorf("run the probe (%s): %w", args[0], err)
	}
	if exit != 0 || json.Unmarshal([]byte(lastLine(out)), v) != nil {
		return fmt.Errorf("the probe (%s) exited %d without a report: %s", args[0], exit, lastLine(out))
	}
	return nil
}

// copyProbe copies the probe into a created container, for a daemon that
// cannot see this machine's files.
func (r *run) copyProbe(ctx context.Context, id string) error {
	bin, err := os.ReadFile(r.probe)
	if err != nil {
		return err
	}
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: probePath[1:], Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg})
	tw.Write(bin)
	tw.Close()
	if _, err := r.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: &tarball}); err != nil {
		return fmt.Errorf("copy the probe into its container: %s", daemon.FirstLine(err))
	}
	return nil
}
