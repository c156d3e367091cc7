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

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/stage"
	"github.com/slimage/slimage/internal/human"
)

// Builder makes a configuration's images and tags them in the local
// Docker, where verify runs them.
type Builder interface {
	// Build makes the images and prints one line per image to out; the
	// builder's own output goes to progress (io.Discard for quiet).
	Build(ctx context.Context, o Options, progress, out io.Writer) ([]Built, error)
	// Tags are the local tags Build gives the images, by platform.
	Tags(o Options) []Built
}

// builders are the ways to build, by the name For picks. config.Resolve has
// already refused any setting the chosen one cannot honour.
var builders = map[string]Builder{
	"docker":     dockerBuilder{},
	"oci":        ociBuilder{},
	"multistage": multistageBuilder{},
}

// For is the builder o names (see builderOf):
//
//   - docker: stages the context and builds it with the daemon, tagged
//     o.Image (one platform, the host's: the legacy builder makes no other);
//   - oci: stages a context per platform, assembles the images and an OCI
//     index without a daemon, writes <dist>/oci, pushes it to o.Push if set,
//     and loads each platform into the local Docker (see PlatformTag);
//   - multistage: writes the self-contained Dockerfile and has the daemon
//     build it from the module root.
func For(o Options) Builder { return builders[o.Builder] }

// Build makes c's images with the builder For picks.
func Build(ctx context.Context, c *config.Config, progress, out io.Writer) ([]Built, error) {
	o, err := OptionsOf(c)
	if err != nil {
		return nil, err
	}
	return For(o).Build(ctx, o, progress, out)
}

// Tags are the local tags of c's images, by platform: what Build tags, and
// what verify runs.
func Tags(c *config.Config) []Built {
	o := namesOf(c)
	return For(o).Tags(o)
}

// hostTag is the docker and multistage builders' one tag: the image's
// name, for the one platform they build.
func hostTag(o Options) []Built { return []Built{{Ref: o.Image, Platform: o.Platforms[0]}} }

type dockerBuilder struct{}

func (dockerBuilder) Tags(o Options) []Built { return hostTag(o) }

// Build has the daemon build the staged context, as docker build would.
func (dockerBuilder) Build(ctx context.Context, o Options, progress, out io.Writer) ([]Built, error) {
	r := &imageRun{o: o, progress: progress, out: out, tags: hostTag(o)}
	// The steps of Docker's builder, in order.
	err := r.run(ctx, []imageStep{
		stageContexts,
		connect(false),
		// Built without a tag: the commit tags it.
		{"building with Docker", buildWithDocker},
		// Its SBOM and provenance are files beside it (the OCI builder
		// attaches them to the image).
		{"attesting", attestBuilt},
		{"writing the SBOMs", writeSBOMs},
		// An OCI layout of an earlier run would not be this image's.
		{"dropping an earlier OCI layout", func(ctx context.Context, r *imageRun) error { return r.u.Remove(config.OCIFolder) }},
	})
	if err != nil {
		return nil, err
	}
	printBuilt(out, r.built[0], r.contexts[0])
	printAttestations(out, r.o, false)
	return r.built, nil
}

func buildWithDocker(ctx context.Context, r *imageRun) error {
	b, err := BuildWithDocker(ctx, r.cli, r.contexts[0], r.o.Platforms[0], r.o.Image, r.u, r.progress)
	if err == nil {
		r.built = append(r.built, b)
	}
	return err
}

type ociBuilder struct{}

func (ociBuilder) Tags(o Options) []Built {
	var out []Built
	for _, p := range o.Platforms {
		out = append(out, Built{Ref: PlatformTag(o.Image, p, o.Host.String()), Platform: p})
	}
	return out
}

// Build assembles the images and their index from the staged contexts,
// without a daemon, then loads them into Docker (for verify) and pushes.
func (b ociBuilder) Build(ctx context.Context, o Options, progress, out io.Writer) ([]Built, error) {
	r := &imageRun{o: o, progress: progress, out: out, tags: b.Tags(o), oci: &ociResult{dir: filepath.Join(o.Dist, config.OCIFolder)}}
	// The steps of the OCI builder, in order.
	steps := []imageStep{
		stageContexts,
		// The layout in place is reused when it holds these contexts' images.
		{"assembling the images", assembleImages},
		// Without an engine the layout is still written and pushed.
		connect(true),
		// Docker takes the images first, as their tars, while the gzip
		// that the layout, the digests and a push need is being made.
		{"loading into Docker", loadIntoDocker},
		// Each platform's SBOM and provenance, attached to its manifest as
		// referrers (in the layout, and on push), and written as files.
		{"attesting", attest},
		{"writing the OCI layout", writeOCILayout},
		{"writing the SBOMs", writeSBOMs},
	}
	if o.Push != "" {
		// Last: a push that fails leaves every local output as it was.
		steps = append(steps, imageStep{"pushing to " + o.Push, pushIndex})
	}
	if err := r.run(ctx, steps); err != nil {
		return nil, err
	}
	res := r.oci
	note := ""
	if res.unchanged {
		note = "  (unchanged)"
	}
	fmt.Fprintf(out, "oci %s  index %s  %d platform%s, SBOM and provenance attached%s\n", human.Path(res.dir), res.digest, len(res.imgs), human.Plural(len(res.imgs)), note)
	if r.connErr != nil {
		return nil, fmt.Errorf("%w (the OCI layout is written; Docker is needed to load the images for verify)", r.connErr)
	}
	for i, b := range r.built {
		printBuilt(out, b, res.imgs[i].Context)
	}
	printAttestations(out, r.o, true)
	return r.built, nil
}

type multistageBuilder struct{}

func (multistageBuilder) Tags(o Options) []Built { return hostTag(o) }

// Build writes the self-contained Dockerfile and has the daemon build it
// from the module root.
func (multistageBuilder) Build(ctx context.Context, o Options, progress, out io.Writer) ([]Built, error) {
	c := o.multistage
	r := &imageRun{o: o, progress: progress, out: out, tags: hostTag(o)}
	var m *Multistage
	// The steps of the multistage mode, in order.
	err := r.run(ctx, []imageStep{
		{"writing the Dockerfile", func(ctx context.Context, r *imageRun) (err error) {
			m, err = WriteMultistage(ctx, c)
			return err
		}},
		connect(false),
		// Built without a tag: the commit tags it.
		{"building with Docker", func(ctx context.Context, r *imageRun) error {
			b, err := BuildMultistage(ctx, r.cli, c, m, progress)
			if err == nil {
				r.built = append(r.built, b)
			}
			return err
		}},
	})
	if err != nil {
		return nil, err
	}
	b := r.built[0]
	fmt.Fprintf(out, "image %s  %s  %s  %s  %s (multistage, built by %s)\n", b.Ref, b.Platform, shortID(b.ID),
		human.Size(b.Size), human.Path(m.Dockerfile), c.GoImage)
	fmt.Fprintln(out, "sbom: none in the multistage mode (the binary is built inside Docker); the host mode writes an SBOM and provenance per platform")
	return r.built, nil
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
