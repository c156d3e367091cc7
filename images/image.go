package images

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
)

// Build stages the image's context from the binary the build step made and
// builds it with the Docker daemon, tagged c.Image. It prints one summary
// line to out; the builder's own output goes to progress.
//
// The daemon's builder here (the legacy one) builds only its own platform,
// so every platform in c.Platforms must be that one.
func Build(ctx context.Context, c *config.Config, progress, out io.Writer) (Built, error) {
	if len(c.Platforms) != 1 {
		return Built{}, fmt.Errorf("build image %s: the Docker builder makes one platform per image, and SLIMAGE_PLATFORMS lists %d: set SLIMAGE_PLATFORMS to the daemon's platform (multi-platform images are not supported yet)", c.Image, len(c.Platforms))
	}
	p := c.Platforms[0]
	sc, err := Stage(ctx, c, gobuild.OutputPath(c, p))
	if err != nil {
		return Built{}, err
	}
	cli, err := Connect(ctx)
	if err != nil {
		return Built{}, err
	}
	defer cli.Close()
	b, err := BuildWithDocker(ctx, cli, sc, p, c.Image, progress)
	if err != nil {
		return Built{}, err
	}
	note := ""
	if b.Unchanged {
		note = "  (unchanged)"
	}
	fmt.Fprintf(out, "image %s  %s  %s (binary %s + %s)  %s%s\n", b.Ref, shortID(b.ID), size(b.Size),
		size(sc.BinarySize), size(b.Size-sc.BinarySize), rel(sc.Dockerfile), note)
	return b, nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 || n <= -1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func rel(p string) string {
	if wd, err := filepath.Abs("."); err == nil {
		if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return p
}
