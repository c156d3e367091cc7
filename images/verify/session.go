package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	stdlog "log"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// SessionLabel marks every container one verify run starts, so that all of
// them are removed at the end whatever happened, even when testcontainers
// failed halfway and returned no handle.
const SessionLabel = "com.github.slimage.verify"

// OwnerLabel names the process that started a session's containers, as
// host/pid, so a later run can remove those of a run that died before it
// could (a SIGKILL, a closed terminal).
const OwnerLabel = "com.github.slimage.verify.owner"

// session is one verify run: its label value, where testcontainers logs,
// and the containers in flight.
type session struct {
	id     string
	owner  string
	extra  map[string]string // SLIMAGE_VERIFY_LABELS
	cli    *client.Client
	logger tclog.Logger
	wg     sync.WaitGroup // calls that may be creating a container
}

func newSession(cli *client.Client, extra map[string]string, progress io.Writer) *session {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	host, _ := os.Hostname()
	s := &session{id: hex.EncodeToString(b), owner: host + "/" + strconv.Itoa(os.Getpid()), extra: extra, cli: cli, logger: tclog.NewNoopLogger()}
	if progress != io.Discard {
		s.logger = stdlog.New(progress, "", stdlog.LstdFlags)
	}
	return s
}

// run starts ref through testcontainers-go, labelled with the session.
// testcontainers can panic where it finds no Docker host; that is turned
// into an error.
func (s *session) run(ctx context.Context, ref string, opts ...testcontainers.ContainerCustomizer) (ctr *testcontainers.DockerContainer, err error) {
	s.wg.Add(1)
	defer s.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("testcontainers: %v", r)
		}
	}()
	opts = append(opts, testcontainers.WithLabels(s.labels()), testcontainers.WithLogger(s.logger))
	ctr, err = testcontainers.Run(ctx, ref, opts...)
	if err != nil && strings.Contains(err.Error(), "reaper") {
		err = fmt.Errorf("%w: testcontainers' reaper (Ryuk) could not start; slimage removes its own containers, so set TESTCONTAINERS_RYUK_DISABLED=true", err)
	}
	return ctr, err
}

// labels are the labels of every container of the session: the user's,
// then the session's own.
func (s *session) labels() map[string]string {
	l := map[string]string{}
	for k, v := range s.extra {
		l[k] = v
	}
	l[SessionLabel], l[OwnerLabel] = s.id, s.owner
	return l
}

// close removes every container of the session once no call is still
// creating one. After an interrupt the daemon may finish a create whose
// request was cancelled after the first sweep looked, so an interrupted
// session sweeps again a little later.
func (s *session) close(interrupted bool) {
	s.wg.Wait()
	s.sweep()
	if interrupted {
		for _, d := range []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond} {
			time.Sleep(d)
			s.sweep()
		}
	}
}

func (s *session) sweep() {
	removeContainers(s.cli, func(labels map[string]string) bool { return labels[SessionLabel] == s.id })
}

// removeOrphans removes the containers of earlier verify runs on this host
// whose process is gone.
func removeOrphans(cli *client.Client) {
	host, _ := os.Hostname()
	removeContainers(cli, func(labels map[string]string) bool {
		h, pid, ok := strings.Cut(labels[OwnerLabel], "/")
		n, err := strconv.Atoi(pid)
		return ok && err == nil && h == host && n != os.Getpid() && !alive(n)
	})
}

func removeContainers(cli *client.Client, match func(labels map[string]string) bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", SessionLabel)})
	if err != nil {
		return
	}
	for _, c := range res.Items {
		if match(c.Labels) {
			_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
}

func terminate(ctr *testcontainers.DockerContainer) {
	_ = testcontainers.TerminateContainer(ctr)
}
