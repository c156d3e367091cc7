package gobuild

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/slimage/slimage/config"
)

// Target is one go command's build for one platform: all it reads,
// translated once from the configuration (TargetFor). The probe, which
// has no configuration, writes its own.
type Target struct {
	Dir      string // the module's root: where the go command runs
	Platform config.Platform
	Binaries []Output // what it makes, each from its main package
	Flags    []string // go build's flags (see Flags); go list takes them too
	Env      []string // on top of the process's: ModuleGoEnv, then PlatformEnv
	Dist     string   // the outputs' root: folders are made only inside it
	// What the linked packages are judged by (see readLinked and
	// judgeLinked): the -X targets (importpath.name), SLIMAGE_CGO_DROPPED,
	// and the build tags GOFLAGS gives.
	Stamps     []string
	CgoDropped string
	Tags       []string
	// Inputs is what says whether the last build still holds (see
	// readBuildInputs); nil: the go command always runs.
	Inputs *Inputs
}

// Output is one binary of a Target: its service, main package and path.
type Output struct{ Service, Main, Path string }

// Inputs are the facts besides the go command's arguments that decide a
// binary: the toolchain, the commit the go command stamps, and the folders
// the sources come from (never walking Skip, the outputs' root).
type Inputs struct {
	Toolchain string
	Revision  string
	Roots     []string
	Skip      string
}

// PlatformEnv is the environment every slimage build of p sets.
func PlatformEnv(p config.Platform) []string {
	return append([]string{"CGO_ENABLED=0"}, p.GoEnv()...)
}

// TargetFor translates c into the build of its selected services (see
// config.Selected; for a configuration made by hand, its one main package)
// for p.
func TargetFor(c *config.Config, p config.Platform) Target {
	t := Target{Dir: c.Dir, Platform: p, Flags: Flags(c), Env: moduleEnv(c, PlatformEnv(p)...), Dist: c.Dist,
		CgoDropped: c.CgoDropped, Tags: buildTags(c.GoEnv.GOFLAGS)}
	for _, s := range services(c) {
		t.Binaries = append(t.Binaries, Output{Service: s.Name, Main: s.Main, Path: binaryPath(c, s.Name, p)})
	}
	stamps, _ := c.Stamps() // checked when the configuration was read
	for _, s := range stamps {
		t.Stamps = append(t.Stamps, s.Var)
	}
	// A go.work, or a configuration that was not resolved, gives facts
	// slimage cannot see all of.
	if stampsWork && c.GoEnv.GOVERSION != "" && filepath.IsAbs(c.Dist) && !inWorkspace(c.Dir) {
		in := &Inputs{Revision: c.Git.Revision, Skip: c.Dist, Roots: []string{sourceRoot(c.Dir)},
			Toolchain: fmt.Sprintf("%s %s %s %s\n%s", c.GoEnv.GOVERSION, c.GoEnv.GOROOT, c.GoEnv.GOFLAGS, os.Getenv("MAGEFILE_GOCMD"), c.GoEnv.Build)}
		for _, r := range c.Module.Replaces {
			if !isUnder(r, in.Roots[0]) {
				in.Roots = append(in.Roots, r)
			}
		}
		t.Inputs = in
	}
	return t
}

// services are what Build builds: the selected services, or, for a
// configuration made by hand, its one main package.
func services(c *config.Config) []*config.Service {
	if len(c.Services) > 0 {
		return c.Selected()
	}
	return []*config.Service{{Name: c.Binary, Main: c.Main}}
}

// mainPackages are the main packages of the services Build builds.
func mainPackages(c *config.Config) []string {
	var out []string
	for _, s := range services(c) {
		out = append(out, s.Main)
	}
	return out
}

// OutputPath is where Build puts the binary for p (of c's one service,
// or of the service a ForService configuration is about).
func OutputPath(c *config.Config, p config.Platform) string { return binaryPath(c, c.Binary, p) }

// Made is the binary of c's service for p as build made it (c.Built), or,
// where this run's build did not (a test's own binary, a step run on its
// own), the binary in place, described as build makes it.
func Made(c *config.Config, p config.Platform) config.Binary {
	if b, ok := c.BuiltBinary(p); ok {
		return b
	}
	return config.Binary{Service: c.Binary, Platform: p, Path: OutputPath(c, p),
		Flags: append(Flags(c), c.Main), Env: PlatformEnv(p)}
}

func binaryPath(c *config.Config, name string, p config.Platform) string {
	if p.OS == "windows" {
		name += ".exe"
	}
	return filepath.Join(c.BinaryDir(p), name)
}

// Flags are the go build flags every slimage binary gets: -trimpath makes the
// binary independent of the checkout path, -s -w drop the symbol table and
// DWARF. Go's build ID is kept on purpose: it lets a rebuild of unchanged
// sources skip the link (~0.2 s here), where -buildid= relinks every time.
func Flags(c *config.Config) []string {
	ldflags := "-s -w"
	stamps, _ := c.Stamps() // checked when the configuration was read
	for _, s := range stamps {
		ldflags += " -X " + s.Var + "=" + s.Value(c)
	}
	// Passed straight to exec, never through a shell or mage's sh (which
	// would expand $VAR in the version).
	return []string{"-trimpath", modFlag(c), "-ldflags=" + ldflags}
}

// modFlag keeps the go command from rewriting go.mod or go.sum, or builds
// from vendor/ when the module has one.
func modFlag(c *config.Config) string {
	if c.Vendor {
		return "-mod=vendor"
	}
	return "-mod=readonly"
}
