package build

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

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/stage"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/outdir"
)

// Built is the result of a build.
type Built struct {
	Ref       string
	Platform  config.Platform
	ID        string
	Size      int64 // the image's size as the daemon reports it
	Unchanged bool  // ref already was this context's image: nothing was built
	loaded    bool  // this run gave Docker the image (untagged until its commit)
}

// ContextLabel names the staged context's digest where slimage keeps it
// beside an image (an OCI layout's index annotation), never in the image:
// a build label would be a build step after the binary's, re-run on every
// code change (Docker's legacy builder turns each --label into a LABEL
// step at the end).
const ContextLabel = "com.github.slimage.context"

// builtRecord is what the Docker path remembers of its last build, beside
// the staged context: the image built from a context digest. While the tag
// still names that image, the next build with the same digest sends
// nothing.
type builtRecord struct {
	Ref, Platform, Digest, ID string
}

// builtRecordName is the record's name beside the context's.
func builtRecordName(sc *stage.Context) string { return "." + filepath.Base(sc.Final) + ".built.json" }

// BuildWithDocker builds the staged context without a tag (the run's
// commit tags it ref). Only the staged folder is sent as the build
// context. The builder's output goes to progress (io.Discard for quiet).
// The record of what it built goes into u.
//
// When ref still names the image slimage built from a context with the
// same digest, nothing is sent: a no-op image step costs one inspect.
func BuildWithDocker(ctx context.Context, cli *client.Client, sc *stage.Context, p config.Platform, ref string, u *outdir.Update, progress io.Writer) (Built, error) {
	want := p.OS + "/" + p.Arch
	var last builtRecord
	if data, err := os.ReadFile(filepath.Join(filepath.Dir(sc.Final), builtRecordName(sc))); err == nil && json.Unmarshal(data, &last) == nil &&
		last == (builtRecord{Ref: ref, Platform: want, Digest: sc.Digest, ID: last.ID}) {
		if prev, err := cli.ImageInspect(ctx, ref); err == nil && prev.ID == last.ID {
			fmt.Fprintf(progress, "%s is up to date (context %s)\n", ref, sc.Digest)
			return Built{Ref: ref, Platform: p, ID: prev.ID, Size: prev.Size, Unchanged: true}, nil
		}
	}
	native, err := daemon.Platform(ctx, cli)
	if ctx.Err() != nil {
		return Built{}, ctx.Err()
	}
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: %w", ref, err)
	}
	if want != native {
		return Built{}, fmt.Errorf("build image %s: Docker's builder here builds only %s, not %s: set SLIMAGE_PLATFORMS=%s (images for other platforms are not supported yet)", ref, native, p, native)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(sc.Dir, pw)) }()
	defer pr.Close()

	res, err := cli.ImageBuild(ctx, pr, client.ImageBuildOptions{Dockerfile: "Dockerfile", Remove: true, ForceRemove: true})
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: %s", ref, daemon.FirstLine(err))
	}
	defer res.Body.Close()
	id, err := buildOutput(ctx, res.Body, progress)
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: %w (Dockerfile: %s)", ref, err, human.Path(sc.Dockerfile))
	}
	inspect, err := cli.ImageInspect(ctx, id)
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: inspect the result: %s", ref, daemon.FirstLine(err))
	}
	if data, err := json.Marshal(builtRecord{Ref: ref, Platform: want, Digest: sc.Digest, ID: inspect.ID}); err == nil {
		if rec, err := u.File(builtRecordName(sc)); err == nil {
			_ = os.WriteFile(rec, data, 0o644) // a missing record only costs the next run a cached build
		}
	}
	return Built{Ref: ref, Platform: p, ID: inspect.ID, Size: inspect.Size, loaded: true}, nil
}

// buildOutput follows a build's output stream to its end, passing the
// builder's output to progress, and returns the ID of the image built.
func buildOutput(ctx context.Context, body io.Reader, progress io.Writer) (string, error) {
	var id string
	tail := &outputTail{}
	err := jsonmessage.DisplayJSONMessagesStream(body, io.MultiWriter(progress, tail), 0, false, func(m jsonstream.Message) {
		var aux struct{ ID string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
			id = aux.ID
		}
	})
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		return "", fmt.Errorf("%s (it said: %s)", daemon.FirstLine(err), lastOutput(tail))
	}
	if id == "" {
		// Older engines (and Podman) only say it in the stream.
		for _, l := range tail.lines {
			if rest, ok := strings.CutPrefix(l, "Successfully built "); ok {
				id = strings.TrimSpace(rest)
			}
		}
	}
	if id == "" {
		return "", fmt.Errorf("the builder named no image (it said: %s)", lastOutput(tail))
	}
	return id, nil
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
