package images

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/human"
)

// Build makes the image with the configured builder and prints one line
// per image to out; builders' own output goes to progress.
//
//   - docker: stages the context and builds it with the daemon, tagged
//     c.Image (one platform, the host's: the legacy builder makes no other);
//   - oci: stages a context per platform, assembles the images and an OCI
//     index without a daemon, writes <dist>/oci, pushes it to c.Push if set,
//     and loads each platform into the local Docker for verify (see Tags).
func Build(ctx context.Context, c *config.Config, progress, out io.Writer) ([]Built, error) {
	if c.Builder == "oci" {
		return buildOCI(ctx, c, out)
	}
	if c.DockerfileMode == "multistage" {
		return buildMultistage(ctx, c, progress, out)
	}
	p := c.Platforms[0]
	sc, err := Stage(ctx, c, p)
	if err != nil {
		return nil, err
	}
	cli, err := Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	b, err := BuildWithDocker(ctx, cli, sc, p, c.Image, progress)
	if err != nil {
		return nil, err
	}
	printBuilt(out, b, sc)
	return []Built{b}, nil
}

// Tags are the local Docker tags of c's images, by platform: what Build
// tags, and what verify runs.
func Tags(c *config.Config) []Built {
	var out []Built
	for _, p := range c.Platforms {
		ref := c.Image
		if c.Builder == "oci" {
			ref = PlatformTag(c.Image, p, c.HostPlatform().String())
		}
		out = append(out, Built{Ref: ref, Platform: p})
	}
	return out
}

func buildOCI(ctx context.Context, c *config.Config, out io.Writer) ([]Built, error) {
	contexts, err := StageAll(ctx, c)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.Dist, "oci")
	idx, imgs, unchanged := reuseLayout(dir, c, contexts)
	if !unchanged {
		if idx, imgs, err = assembleIndex(c, contexts); err != nil {
			return nil, err
		}
		if err := WriteLayout(idx, dir); err != nil {
			return nil, fmt.Errorf("write OCI layout %s: %w", dir, err)
		}
	}
	digest, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	note := ""
	if unchanged {
		note = "  (unchanged)"
	}
	fmt.Fprintf(out, "oci %s  index %s  %d platform%s%s\n", human.Path(dir), digest, len(imgs), human.Plural(len(imgs)), note)
	if c.Push != "" {
		if _, err := Push(ctx, idx, c.Push); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "push %s@%s\n", c.Push, digest)
	}
	cli, err := Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w (the OCI layout is written; Docker is needed to load the images for verify)", err)
	}
	defer cli.Close()
	var built []Built
	for i, t := range Tags(c) {
		pi := imgs[i]
		id, err := pi.Image.ConfigName()
		if err != nil {
			return nil, err
		}
		b := Built{Ref: t.Ref, Platform: t.Platform, ID: id.String()}
		prev, err := cli.ImageInspect(ctx, t.Ref)
		if b.Unchanged = err == nil && prev.ID == b.ID; !b.Unchanged {
			if err := LoadIntoDocker(ctx, cli, pi.Image, t.Ref); err != nil {
				return nil, err
			}
			if prev, err = cli.ImageInspect(ctx, t.Ref); err != nil {
				return nil, fmt.Errorf("load %s: %s", t.Ref, firstLine(err))
			}
		}
		b.Size = prev.Size
		printBuilt(out, b, pi.Context)
		built = append(built, b)
	}
	return built, nil
}

func buildMultistage(ctx context.Context, c *config.Config, progress, out io.Writer) ([]Built, error) {
	m, err := WriteMultistage(ctx, c)
	if err != nil {
		return nil, err
	}
	cli, err := Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	b, err := BuildMultistage(ctx, cli, c, m, progress)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "image %s  %s  %s  %s  %s (multistage, built by %s)\n", b.Ref, b.Platform, shortID(b.ID),
		human.Size(b.Size), human.Path(m.Dockerfile), c.GoImage)
	return []Built{b}, nil
}

func printBuilt(out io.Writer, b Built, sc *StagedContext) {
	note := ""
	if b.Unchanged {
		note = "  (unchanged)"
	}
	fmt.Fprintf(out, "image %s  %s  %s  %s (binary %s + %s)  %s%s\n", b.Ref, b.Platform, shortID(b.ID), human.Size(b.Size),
		human.Size(sc.BinarySize), human.Size(b.Size-sc.BinarySize), human.Path(sc.Dockerfile), note)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
