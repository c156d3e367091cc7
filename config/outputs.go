package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/outdir"
)

// The output folder's (SLIMAGE_DIST's) layout: each step's folders, by
// name. Every one of them is slimage's (see package outdir): a folder of
// the user's by one of these names is refused before any work.
const (
	OCIFolder  = "oci"  // image: the OCI layout (index, images, referrers)
	SBOMFolder = "sbom" // image: <os>_<arch>.cdx.json and .provenance.json
	// ManifestsFolder: resolve's manifests; PushedRecord: what image
	// pushed (the reference and the index's digest), which resolve reads.
	ManifestsFolder = "manifests"
	PushedRecord    = "pushed.json"
	// DeployPlan: how the manifests run the service (package deploy's
	// plan), written before verify, which runs each container as it says.
	DeployPlan   = "deploy.json"
	VerifyFolder = "verify" // verify: <os>_<arch>.json and junit.xml
	VulnFolder   = "vuln"   // vulncheck: <os>_<arch>.json and junit.xml
)

// BinaryDir is where build puts p's binary: <dist>/<os>_<arch>[_<variant>].
func (c *Config) BinaryDir(p Platform) string {
	return filepath.Join(or(c.BuildDist, c.Dist), p.DistDir())
}

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

// ManifestPaths are SLIMAGE_MANIFESTS' files and folders, relative ones
// under the module's folder.
func (c *Config) ManifestPaths() []string {
	var paths []string
	for _, m := range c.Manifests {
		if !filepath.IsAbs(m) {
			m = filepath.Join(c.Dir, m)
		}
		paths = append(paths, m)
	}
	return paths
}

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

// layoutRecord is what the last full run (no SLIMAGE_SERVICES) made in
// the output folder, for the next to remove what it no longer makes.
type layoutRecord struct {
	Services  []string `json:"services"`  // service folders (several services)
	Binaries  []string `json:"binaries"`  // binary names
	Platforms []string `json:"platforms"` // <os>_<arch> folders
	Several   bool     `json:"several"`
}

const layoutRecordName = ".slimage-layout.json"

// PruneOutputs removes, from the output folder, what an earlier run made
// and this configuration no longer does: the folders of services or
// platforms that are gone, the binaries of services that are gone, the
// one-service outputs after a switch to several services (or the other way
// round). Only folders and files of slimage's are removed. A run that
// selects services (SLIMAGE_SERVICES) prunes nothing: the others' outputs
// are still current.
func (c *Config) PruneOutputs() error {
	if len(c.Select) > 0 {
		return nil
	}
	now := layoutRecord{Several: c.Several()}
	for _, s := range c.Services {
		now.Binaries = append(now.Binaries, s.Name)
		if now.Several {
			now.Services = append(now.Services, s.Name)
		}
	}
	for _, p := range c.Platforms {
		now.Platforms = append(now.Platforms, p.DistDir())
	}
	path := filepath.Join(c.Dist, layoutRecordName)
	var last layoutRecord
	if data, err := os.ReadFile(path); err == nil {
		json.Unmarshal(data, &last)
	}
	var gone []string
	for _, s := range last.Services {
		if !slices.Contains(now.Services, s) {
			gone = append(gone, filepath.Join(c.Dist, s))
		}
	}
	for _, p := range last.Platforms {
		if !slices.Contains(now.Platforms, p) {
			gone = append(gone, filepath.Join(c.Dist, p))
		}
	}
	for _, dir := range gone {
		if err := outdir.Remove(dir); err != nil {
			return fmt.Errorf("remove %s, which this configuration no longer makes: %w", dir, err)
		}
	}
	for _, b := range last.Binaries {
		if slices.Contains(now.Binaries, b) {
			continue
		}
		for _, p := range now.Platforms {
			for _, f := range []string{b, b + ".exe", "." + b + ".build.json", "." + b + ".exe.build.json"} {
				os.Remove(filepath.Join(c.Dist, p, f))
			}
		}
	}
	if now.Several && !last.Several {
		// The one-service outputs, at the output folder's root.
		entries, _ := os.ReadDir(c.Dist)
		for _, e := range entries {
			name := e.Name()
			switch {
			case e.IsDir() && (name == "image" || strings.HasPrefix(name, "image-") || slices.Contains([]string{OCIFolder, SBOMFolder, VerifyFolder, VulnFolder}, name)) && outdir.Owned(filepath.Join(c.Dist, name)):
				if err := outdir.Remove(filepath.Join(c.Dist, name)); err != nil {
					return err
				}
			case !e.IsDir() && (name == PushedRecord || strings.HasPrefix(name, ".image") && strings.HasSuffix(name, ".json")):
				os.Remove(filepath.Join(c.Dist, name))
			}
		}
	}
	data, err := json.Marshal(now)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o644)
}
