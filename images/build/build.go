// Package build makes slimage's images: one Builder per way to build
// (Docker's builder, the OCI assembler, a multistage Dockerfile), chosen
// once from the configuration.
package build

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/moby/moby/client"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/provenance"
	"github.com/slimage/slimage/images/sbom"
	"github.com/slimage/slimage/images/stage"
	"github.com/slimage/slimage/internal/human"
)

// Builder makes a configuration's images and tags them in the local
// Docker, where verify runs them.
type Builder interface {
	// Build makes the images and prints one line per image to out; the
	// builder's own output goes to progress (io.Discard for quiet).
	Build(ctx context.Context, c *config.Config, progress, out io.Writer) ([]Built, error)
	// Tags are the local tags Build gives c's images, by platform.
	Tags(c *config.Config) []Built
}

// builders are the ways to build, by the name For picks. config.Resolve has
// already refused any setting the chosen one cannot honour.
var builders = map[string]Builder{
	"docker":     dockerBuilder{},
	"oci":        ociBuilder{},
	"multistage": multistageBuilder{},
}

// For is the builder c asks for: multistage when the Dockerfile builds the
// binary itself, else SLIMAGE_BUILDER's.
//
//   - docker: stages the context and builds it with the daemon, tagged
//     c.Image (one platform, the host's: the legacy builder makes no other);
//   - oci: stages a context per platform, assembles the images and an OCI
//     index without a daemon, writes <dist>/oci, pushes it to c.Push if set,
//     and loads each platform into the local Docker (see PlatformTag);
//   - multistage: writes the self-contained Dockerfile and has the daemon
//     build it from the module root.
func For(c *config.Config) Builder {
	name := c.Builder
	if c.DockerfileMode == "multistage" {
		name = "multistage"
	}
	return builders[name]
}

// Build makes c's images with the builder For picks.
func Build(ctx context.Context, c *config.Config, progress, out io.Writer) ([]Built, error) {
	return For(c).Build(ctx, c, progress, out)
}

// Tags are the local tags of c's images, by platform: what Build tags, and
// what verify runs.
func Tags(c *config.Config) []Built { return For(c).Tags(c) }

// hostTag is the docker and multistage builders' one tag: c.Image, for the
// one platform they build.
func hostTag(c *config.Config) []Built { return []Built{{Ref: c.Image, Platform: c.Platforms[0]}} }

type dockerBuilder struct{}

func (dockerBuilder) Tags(c *config.Config) []Built { return hostTag(c) }

func (dockerBuilder) Build(ctx context.Context, c *config.Config, progress, out io.Writer) ([]Built, error) {
	p := c.Platforms[0]
	sc, err := stage.Write(ctx, c, p)
	if err != nil {
		return nil, err
	}
	cli, err := daemon.Connect(ctx, progress)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	b, err := BuildWithDocker(ctx, cli, sc, p, c.Image, progress)
	if err != nil {
		return nil, err
	}
	printBuilt(out, b, sc)
	// The image is the daemon's: its SBOM and provenance are files (the OCI
	// builder attaches them to the image).
	a, err := Attest(c, b, sc)
	if err != nil {
		return nil, err
	}
	printAttestation(out, a, false)
	return []Built{b}, nil
}

type ociBuilder struct{}

func (ociBuilder) Tags(c *config.Config) []Built {
	var out []Built
	for _, p := range c.Platforms {
		out = append(out, Built{Ref: PlatformTag(c.Image, p, c.HostPlatform().String()), Platform: p})
	}
	return out
}

func (b ociBuilder) Build(ctx context.Context, c *config.Config, progress, out io.Writer) ([]Built, error) {
	return buildOCI(ctx, c, b.Tags(c), progress, out)
}

type multistageBuilder struct{}

func (multistageBuilder) Tags(c *config.Config) []Built { return hostTag(c) }

func buildOCI(ctx context.Context, c *config.Config, tags []Built, progress, out io.Writer) ([]Built, error) {
	contexts, err := stage.WriteAll(ctx, c)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.Dist, "oci")
	idx, imgs, unchanged := reuseLayout(dir, c, contexts)
	if !unchanged {
		if idx, imgs, err = assembleIndex(c, contexts); err != nil {
			return nil, err
		}
	}
	// Docker takes the images first, as their tars, while the gzip that the
	// layout, the digests and a push need is still being made.
	cli, connErr := daemon.Connect(ctx, progress)
	var built []Built
	if connErr == nil {
		defer cli.Close()
		if built, err = loadAll(ctx, cli, tags, imgs); err != nil {
			return nil, err
		}
	}
	// Each platform's SBOM and provenance, attached to its manifest as
	// referrers (in the layout, and on push).
	var refs []referrer
	var atts []Attestation
	for i, pi := range imgs {
		subject, err := partial.Descriptor(pi.Image)
		if err != nil {
			return nil, err
		}
		docs, err := attestationDocs(c, pi.Platform, pi.Context, provenance.Artifact{Name: tags[i].Ref, SHA256: subject.Digest.Hex})
		if err != nil {
			return nil, err
		}
		a, err := writeAttestation(c, pi.Platform, docs)
		if err != nil {
			return nil, err
		}
		atts = append(atts, a)
		about := v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest}
		for _, d := range []struct {
			kind, artifactType string
			doc                []byte
		}{{"sbom", sbom.MediaType, docs.sbom}, {"provenance", provenance.MediaType, docs.provenance}} {
			r, err := newReferrer(d.kind, d.artifactType, d.doc, about)
			if err != nil {
				return nil, err
			}
			refs = append(refs, r)
		}
	}
	if !unchanged || !sameReferrers(dir, refs) {
		unchanged = false
		if err := WriteLayout(idx, dir, refTag(c.Image), refs...); err != nil {
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
	fmt.Fprintf(out, "oci %s  index %s  %d platform%s, SBOM and provenance attached%s\n", human.Path(dir), digest, len(imgs), human.Plural(len(imgs)), note)
	if c.Push != "" {
		if _, err := Push(ctx, idx, c.Push); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "push %s@%s\n", c.Push, digest)
		if err := pushReferrers(ctx, c.Push, refs, out); err != nil {
			return nil, err
		}
	}
	if connErr != nil {
		return nil, fmt.Errorf("%w (the OCI layout is written; Docker is needed to load the images for verify)", connErr)
	}
	for i, b := range built {
		printBuilt(out, b, imgs[i].Context)
	}
	for _, a := range atts {
		printAttestation(out, a, true)
	}
	return built, nil
}

// loadAll loads each platform's image into Docker as its tag, unless the
// tag already names that image.
func loadAll(ctx context.Context, cli *client.Client, tags []Built, imgs []OCIPlatformImage) ([]Built, error) {
	var built []Built
	for i, t := range tags {
		img := imgs[i].forLoad()
		id, err := img.ConfigName()
		if err != nil {
			return nil, err
		}
		b := Built{Ref: t.Ref, Platform: t.Platform, ID: id.String()}
		prev, err := cli.ImageInspect(ctx, t.Ref)
		if b.Unchanged = err == nil && prev.ID == b.ID; !b.Unchanged {
			if err := LoadIntoDocker(ctx, cli, img, t.Ref); err != nil {
				return nil, err
			}
			if prev, err = cli.ImageInspect(ctx, t.Ref); err != nil {
				return nil, fmt.Errorf("load %s: %s", t.Ref, daemon.FirstLine(err))
			}
			if prev.ID != b.ID {
				return nil, fmt.Errorf("load %s: Docker names image %s, not the loaded %s: is another build tagging it at the same time?", t.Ref, prev.ID, b.ID)
			}
		}
		b.Size = prev.Size
		built = append(built, b)
	}
	return built, nil
}

func (multistageBuilder) Build(ctx context.Context, c *config.Config, progress, out io.Writer) ([]Built, error) {
	m, err := WriteMultistage(ctx, c)
	if err != nil {
		return nil, err
	}
	cli, err := daemon.Connect(ctx, progress)
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
	fmt.Fprintln(out, "sbom: none in the multistage mode (the binary is built inside Docker); the host mode writes an SBOM and provenance per platform")
	return []Built{b}, nil
}

func printBuilt(out io.Writer, b Built, sc *stage.Context) {
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
