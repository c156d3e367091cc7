package build

import (
	"path/filepath"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/stage"
)

// Options are what the image step reads, translated once from the
// configuration by OptionsOf: which builder, the image's name and
// platforms, where the outputs go and where the index is pushed, what
// staging reads (stage.Options), and what the provenance says of the
// build.
type Options struct {
	Builder   string // docker, oci or multistage (see namesOf and For)
	Image     string
	Platforms []config.Platform
	Host      config.Platform // the engine's, whose image keeps the plain tag
	Dist      string
	Push      string // registry/repo[:tag]; "" pushes nothing
	// PushByDigest leaves the tag alone (a per-platform job of a split
	// build); Merge are those jobs' output folders, for merge.
	PushByDigest bool
	Merge        []string
	Stage        stage.Options
	Build        Provenance
	// multistage is the configuration the multistage mode renders its
	// Dockerfile from: that Dockerfile builds the binary too, so it reads
	// the build's settings as well as the image's (see WriteMultistage).
	multistage *config.Config
}

// Provenance is what an attestation says of the build besides the image:
// the module, its main package, the checkout, and each platform's binary
// as build made it.
type Provenance struct {
	Dir        string // the module's folder: its go.sum, its git status
	Module     string
	Main       string
	Repository string // git's origin
	Commit     string
	Binaries   map[config.Platform]config.Binary
}

// namesOf is the part of the options that names the images: the builder,
// the image's name and platforms (what Tags reads, before any work).
func namesOf(c *config.Config) Options {
	o := Options{Builder: c.Builder, Image: c.Image, Platforms: c.Platforms, Host: c.HostPlatform()}
	// The multistage mode is Docker's builder, of a Dockerfile that builds
	// the binary itself.
	if c.DockerfileMode == "multistage" {
		o.Builder, o.multistage = "multistage", c
	}
	return o
}

// OptionsOf translates c's settings for the image step.
func OptionsOf(c *config.Config) (Options, error) {
	st, err := stage.OptionsOf(c)
	if err != nil {
		return Options{}, err
	}
	o := namesOf(c)
	o.Dist, o.Push, o.Stage = c.Dist, c.Push, st
	o.PushByDigest, o.Merge = c.PushByDigest, c.Merge
	o.Build = Provenance{Dir: c.Dir, Module: c.Module.Path, Main: c.Main, Repository: c.Git.Origin, Commit: c.Git.Revision,
		Binaries: map[config.Platform]config.Binary{}}
	for _, p := range c.Platforms {
		o.Build.Binaries[p] = gobuild.Made(c, p)
	}
	return o, nil
}

// sboms is the folder of the SBOM and provenance files.
func (o Options) sboms() string { return filepath.Join(o.Dist, config.SBOMFolder) }
