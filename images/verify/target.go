package verify

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"github.com/slimage/slimage/images/daemon"
)

// target is the running service as a live check reaches it: a container
// of the image, and probes run in containers of the image beside it, as
// its user. dockerTarget is the real one; the checks' tests use a fake.
type target interface {
	// Probe runs the probe with args in a container of its own on network
	// (netHost, netService, or netBridge) until it exits or timeout
	// passes, and returns its exit code and output.
	Probe(ctx context.Context, network string, timeout time.Duration, args ...string) (exit int, out string, err error)
	// State is the service's container's state.
	State(ctx context.Context) (state, error)
	// Logs is the service's output so far.
	Logs(ctx context.Context) string
	// IP is the service's address on its network ("" for none).
	IP(ctx context.Context) (string, error)
	// Term sends SIGTERM and waits up to wait for the service to exit
	// (the wait starts before the signal, so an exit cannot be missed);
	// Kill sends SIGKILL.
	Term(ctx context.Context, wait time.Duration) (sent time.Time, exited bool, err error)
	Kill(ctx context.Context)
	// Exists says whether file is in the service's file system; ReadFile
	// reads it, following symbolic links as exec would.
	Exists(ctx context.Context, file string) bool
	ReadFile(ctx context.Context, file string) ([]byte, error)
	// RunAs starts another container of the image, run as p says, and
	// returns the service it runs; Remove removes that container at once.
	RunAs(ctx context.Context, p profile) (target, error)
	Remove(ctx context.Context)
	// Exec runs cmd in the service's container, as the kubelet runs an
	// exec probe, until it exits or timeout passes.
	Exec(ctx context.Context, timeout time.Duration, cmd []string) (exit int, out string, err error)
}

// profile is how a container of the image runs beyond what its config
// says, as a security context would have it: the zero profile runs it as
// built.
type profile struct {
	User            string            // uid:gid, in place of the image's USER
	Groups          []string          // supplemental groups
	ReadOnlyRoot    bool              // the root file system read-only
	Tmpfs           map[string]string // mount point: options
	CapDrop, CapAdd []string          // capabilities dropped, added
	NoNewPrivileges bool
	// Entrypoint and Cmd replace the image's when not nil (a new
	// entrypoint drops the image's command, as Kubernetes' command does);
	// Env is added to the image's, a name set twice taking the later.
	Entrypoint, Cmd []string
	Env             []string
	Memory          int64 // the memory limit in bytes, without swap (0: none)
}

// The networks a probe runs on.
const (
	netHost    = "host"    // the host's: reaches what the engine's machine reaches
	netService = "service" // the service's namespace: sees what it binds, on loopback too
	netBridge  = ""        // the default network: where another container stands
)

// state is what a check reads of the service's container.
type state struct {
	Running    bool
	ExitCode   int
	OOMKilled  bool      // the kernel killed it for its memory limit
	StartedAt  time.Time // zero where the engine did not say
	FinishedAt time.Time // zero while running, or where the engine did not say
}

// dockerTarget is a service started through testcontainers-go, and the
// probe binary for its platform on this machine.
type dockerTarget struct {
	cli   *client.Client
	s     *session
	ref   string
	app   *testcontainers.DockerContainer
	probe string // on the host
}

const probePath = "/slimage-probe"

// start runs the service as p says, through testcontainers-go, labelled
// with the session. With init, the engine's init is PID 1 and the service
// its child, where the engine has an init (usedInit says whether it did).
func (t *dockerTarget) start(ctx context.Context, p *profile, init bool) (usedInit bool, err error) {
	var opts []testcontainers.ContainerCustomizer
	if p != nil {
		opts = append(opts, testcontainers.WithConfigModifier(func(c *container.Config) {
			if p.User != "" {
				c.User = p.User
			}
			if p.Entrypoint != nil {
				c.Entrypoint = p.Entrypoint
			}
			if p.Cmd != nil {
				c.Cmd = p.Cmd
			}
			c.Env = append(c.Env, p.Env...)
		}), testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.ReadonlyRootfs = p.ReadOnlyRoot
			hc.Tmpfs = p.Tmpfs
			hc.CapDrop, hc.CapAdd = p.CapDrop, p.CapAdd
			hc.GroupAdd = p.Groups
			if p.NoNewPrivileges {
				hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges:true")
			}
			if p.Memory > 0 {
				hc.Memory, hc.MemorySwap = p.Memory, p.Memory
			}
		}))
	}
	if init {
		yes := true
		withInit := append(opts, testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.Init = &yes }))
		app, err := t.s.run(ctx, t.ref, withInit...)
		if err == nil {
			t.app = app
			return true, nil
		}
		if app != nil {
			terminate(app)
		}
		if ctx.Err() != nil {
			return false, err
		}
		// An engine without an init: run as built.
	}
	app, err := t.s.run(ctx, t.ref, opts...)
	if app != nil {
		t.app = app
	}
	return false, err
}

func (t *dockerTarget) RunAs(ctx context.Context, p profile) (target, error) {
	other := &dockerTarget{cli: t.cli, s: t.s, ref: t.ref, probe: t.probe}
	if _, err := other.start(ctx, &p, false); err != nil {
		other.Remove(ctx)
		return nil, err
	}
	return other, nil
}

func (t *dockerTarget) Remove(ctx context.Context) {
	if t.app == nil {
		return
	}
	rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = t.cli.ContainerRemove(rm, t.app.GetContainerID(), client.ContainerRemoveOptions{Force: true})
}

// Probe runs the probe in a container of the image (as the image's user,
// so it sees what the service sees). The service itself runs through
// testcontainers-go; the probe's short-lived containers go straight
// through Docker's client, which here saves a few hundred milliseconds
// each (testcontainers connects anew for every container). They carry the
// session's labels like the service's.
func (t *dockerTarget) Probe(ctx context.Context, network string, timeout time.Duration, args ...string) (int, string, error) {
	if network == netService {
		network = "container:" + t.app.GetContainerID()
	}
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(network)}
	// A daemon on this machine mounts the probe read-only where it is;
	// copying it in instead costs ~0.2 s a container.
	mount := daemon.SharesFiles(t.cli)
	if mount {
		hc.Binds = []string{t.probe + ":" + probePath + ":ro"}
	}
	t.s.wg.Add(1)
	defer t.s.wg.Done()
	created, err := t.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: t.ref, Entrypoint: []string{probePath}, Cmd: args,
			Labels: t.s.labels()},
		HostConfig: hc,
	})
	if err != nil {
		return -1, "", fmt.Errorf("create the probe's container: %s", daemon.FirstLine(err))
	}
	id := created.ID
	defer func() {
		rm, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = t.cli.ContainerRemove(rm, id, client.ContainerRemoveOptions{Force: true})
	}()
	if !mount {
		if err := t.copyProbe(ctx, id); err != nil {
			return -1, "", err
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := t.cli.ContainerWait(waitCtx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := t.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return -1, "", fmt.Errorf("start the probe: %s", daemon.FirstLine(err))
	}
	exit := -1
	select {
	case res := <-wait.Result:
		exit = int(res.StatusCode)
	case err := <-wait.Error:
		return -1, "", fmt.Errorf("wait for the probe: %s", daemon.FirstLine(err))
	}
	logs, err := t.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return exit, "", fmt.Errorf("read the probe's output: %s", daemon.FirstLine(err))
	}
	defer logs.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, logs)
	return exit, out.String(), nil
}

// copyProbe copies the probe into a created container, for a daemon that
// cannot see this machine's files.
func (t *dockerTarget) copyProbe(ctx context.Context, id string) error {
	bin, err := os.ReadFile(t.probe)
	if err != nil {
		return err
	}
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: probePath[1:], Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg})
	tw.Write(bin)
	tw.Close()
	if _, err := t.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: &tarball}); err != nil {
		return fmt.Errorf("copy the probe into its container: %s", daemon.FirstLine(err))
	}
	return nil
}

func (t *dockerTarget) State(ctx context.Context) (state, error) {
	st, err := t.app.State(context.WithoutCancel(ctx))
	if err != nil {
		return state{}, fmt.Errorf("inspect the service's container: %s", daemon.FirstLine(err))
	}
	s := state{Running: st.Running, ExitCode: st.ExitCode, OOMKilled: st.OOMKilled}
	s.StartedAt, _ = time.Parse(time.RFC3339Nano, st.StartedAt)
	if !st.Running {
		s.FinishedAt, _ = time.Parse(time.RFC3339Nano, st.FinishedAt)
	}
	return s, nil
}

func (t *dockerTarget) Logs(ctx context.Context) string {
	rc, err := t.app.Logs(context.WithoutCancel(ctx))
	if err != nil {
		return ""
	}
	defer rc.Close()
	var b bytes.Buffer
	_, _ = io.Copy(&b, io.LimitReader(rc, 1<<20))
	return b.String()
}

func (t *dockerTarget) Exec(ctx context.Context, timeout time.Duration, cmd []string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	exit, r, err := t.app.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return -1, "", errors.New(daemon.FirstLine(err))
	}
	out, _ := io.ReadAll(io.LimitReader(r, 1<<16))
	return exit, string(out), nil
}

func (t *dockerTarget) IP(ctx context.Context) (string, error) { return t.app.ContainerIP(ctx) }

func (t *dockerTarget) Term(ctx context.Context, wait time.Duration) (time.Time, bool, error) {
	id := t.app.GetContainerID()
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	exit := t.cli.ContainerWait(waitCtx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	sent := time.Now()
	if _, err := t.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGTERM"}); err != nil {
		return sent, false, fmt.Errorf("send SIGTERM: %s", daemon.FirstLine(err))
	}
	select {
	case <-exit.Result:
		return sent, true, nil
	case err := <-exit.Error:
		if ctx.Err() != nil {
			return sent, false, ctx.Err()
		}
		return sent, false, fmt.Errorf("wait for the container: %s", daemon.FirstLine(err))
	case <-time.After(wait):
		return sent, false, nil
	case <-ctx.Done():
		return sent, false, ctx.Err()
	}
}

func (t *dockerTarget) Kill(ctx context.Context) {
	_, _ = t.cli.ContainerKill(context.WithoutCancel(ctx), t.app.GetContainerID(), client.ContainerKillOptions{Signal: "SIGKILL"})
}

func (t *dockerTarget) Exists(ctx context.Context, file string) bool {
	_, err := t.cli.ContainerStatPath(ctx, t.app.GetContainerID(), client.ContainerStatPathOptions{Path: file})
	return err == nil
}

func (t *dockerTarget) ReadFile(ctx context.Context, file string) ([]byte, error) {
	for hops := 0; hops < 16; hops++ {
		res, err := t.cli.CopyFromContainer(ctx, t.app.GetContainerID(), client.CopyFromContainerOptions{SourcePath: file})
		if err != nil {
			return nil, fmt.Errorf("%s", daemon.FirstLine(err))
		}
		tr := tar.NewReader(res.Content)
		hdr, err := tr.Next()
		if err != nil {
			res.Content.Close()
			return nil, err
		}
		if hdr.Typeflag == tar.TypeSymlink {
			res.Content.Close()
			if path.IsAbs(hdr.Linkname) {
				file = hdr.Linkname
			} else {
				file = path.Join(path.Dir(file), hdr.Linkname)
			}
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, 1<<30))
		res.Content.Close()
		return data, err
	}
	return nil, fmt.Errorf("too many symbolic links")
}

// runProbe runs the probe on t and decodes the JSON on its last line into v.
func runProbe(ctx context.Context, t target, network string, v any, args ...string) error {
	exit, out, err := t.Probe(ctx, network, 2*time.Minute, args...)
	if err != nil {
		return fmt.Errorf("run the probe (%s): %w", args[0], err)
	}
	if exit != 0 || json.Unmarshal([]byte(lastLine(out)), v) != nil {
		return fmt.Errorf("the probe (%s) exited %d without a report: %s", args[0], exit, lastLine(out))
	}
	return nil
}

// logTail is the service's last few log lines, on one line.
func logTail(ctx context.Context, t target) string {
	lines := strings.Split(strings.TrimSpace(t.Logs(ctx)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	s := strings.Join(lines, " | ")
	if s == "" {
		return "(none)"
	}
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
