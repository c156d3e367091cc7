package config

import (
	"path/filepath"

	"github.com/slimage/slimage/internal/outdir"
)

// The output folder's (SLIMAGE_DIST's) layout: each step's folders, by
// name. Every one of them is slimage's (see package outdir): a folder of
// the user's by one of these names is refused before any work.
const (
	OCIFolder    = "oci"    // image: the OCI layout (index, images, referrers)
	SBOMFolder   = "sbom"   // image: <os>_<arch>.cdx.json and .provenance.json
	VerifyFolder = "verify" // verify: <os>_<arch>.json and junit.xml
	VulnFolder   = "vuln"   // vulncheck: <os>_<arch>.json and junit.xml
)

// BinaryDir is where build puts p's binary: <dist>/<os>_<arch>[_<variant>].
func (c *Config) BinaryDir(p Platform) string { return filepath.Join(c.Dist, p.DistDir()) }

// ContextDir is where image stages p's build context: <dist>/image for a
// single-platform build, <dist>/image-<os>_<arch> for each of several.
func (c *Config) ContextDir(p Platform) string {
	if len(c.Platforms) <= 1 {
		return filepath.Join(c.Dist, "image")
	}
	return filepath.Join(c.Dist, "image-"+p.DistDir())
}

// Output is the folder name of SLIMAGE_DIST.
func (c *Config) Output(name string) string { return filepath.Join(c.Dist, name) }

// checkBuildOutputs refuses, before any work, a folder of the user's
// where build would put a binary.
func (c *Config) checkBuildOutputs() error {
	for _, p := range c.Platforms {
		if err := outdir.Check(c.BinaryDir(p)); err != nil {
			return err
		}
	}
	return nil
}

// checkImageOutputs refuses, before any work, a folder of the user's
// where image, verify or vulncheck would write.
func (c *Config) checkImageOutputs() error {
	dirs := []string{c.Output(OCIFolder), c.Output(SBOMFolder), c.Output(VerifyFolder), c.Output(VulnFolder)}
	for _, p := range c.Platforms {
		dirs = append(dirs, c.ContextDir(p))
	}
	for _, d := range dirs {
		if err := outdir.Check(d); err != nil {
			return err
		}
	}
	return nil
}
