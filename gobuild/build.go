package gobuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/gotool"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/outdir"
	"github.com/slimage/slimage/internal/progress"
)

// Artifact is one built binary.
type Artifact struct {
	Service  string // its service (the binary's name)
	Platform config.Platform
	Path     string
	Size     int64
	SHA256   string
	// Linked is what the build found in what it linked (see readLinked);
	// Notes say it, where it does not fail the build.
	Linked Linked
	Notes  []string
}

// Build cross-compiles the selected services (config.Selected) for every
// platform in c.Platforms into <dist>/<os>_<arch>[_<variant>]/<binary>,
// one go command per platform for all of them (the go command shares the
// work), and checks each result with CheckBinary. It stops at the first
// failure. A build that takes longer than a second shows its progress on
// w (see package progress).
func Build(ctx context.Context, c *config.Config, w io.Writer) ([]Artifact, error) {
	var arts []Artifact
	for _, p := range c.Platforms {
		l := progress.Start(w, "build "+p.String())
		built, err := buildPlatform(ctx, c, p, l)
		l.End("")
		if err != nil {
			return arts, err
		}
		for _, a := range built {
			s := a.Service
			c.RecordBuilt(config.Binary{Service: s, Platform: p, Path: a.Path, SHA256: a.SHA256,
				Flags: append(Flags(c), mainOf(c, s)), Env: append([]string{"CGO_ENABLED=0"}, p.GoEnv()...)})
			for _, n := range a.Notes {
				fmt.Fprintln(w, n)
			}
			fmt.Fprintf(w, "build %-14s %s  %s\n", p, human.Path(a.Path), human.Size(a.Size))
		}
		arts = append(arts, built...)
	}
	return arts, nil
}

// mainOf is the main package of the service named s.
func mainOf(c *config.Config, s string) string {
	for _, sv := range services(c) {
		if sv.Name == s {
			return sv.Main
		}
	}
	return c.Main
}

// mainPackages are the main packages of the services Build builds.
func mainPackages(c *config.Config) []string {
	var out []string
	for _, s := range services(c) {
		out = append(out, s.Main)
	}
	return out
}

// services are what Build builds: the selected services, or, for a
// configuration made by hand (the probe's), its one main package.
func services(c *config.Config) []*config.Service {
	if len(c.Services) > 0 {
		return c.Selected()
	}
	return []*config.Service{{Name: c.Binary, Main: c.Main}}
}

// OutputPath is where Build puts the binary for p (of c's one service,
// or of the service a ForService configuration is about).
func OutputPath(c *config.Config, p config.Platform) string { return binaryPath(c, c.Binary, p) }

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

// BuildPlatform builds one platform of c's one main package (the
// probe's: a configuration made by hand).
func BuildPlatform(ctx context.Context, c *config.Config, p config.Platform) (Artifact, error) {
	arts, err := buildPlatform(ctx, c, p, nil)
	if err != nil {
		return Artifact{}, err
	}
	return arts[0], nil
}

// buildPlatform builds every service of c for p with one go command,
// showing its progress on l (nil: nowhere).
//
// The go command writes into a temp folder beside the outputs; each binary
// is renamed over its output only once the build and the checks pass, so
// an output path never holds half a binary or a bad one. The temp folder
// starts with copies of the previous outputs: the go command sees their
// build IDs are current and skips the link of each that did not change.
// When no input changed since the last build (see buildRecord), the go
// command is not run at all.
func buildPlatform(ctx context.Context, c *config.Config, p config.Platform, l *progress.Line) ([]Artifact, error) {
	svcs := services(c)
	env := moduleEnv(c, append([]string{"CGO_ENABLED=0"}, p.GoEnv()...)...)
	flags := Flags(c)
	var mains []string
	for _, s := range svcs {
		mains = append(mains, s.Main)
	}
	type target struct {
		s      *config.Service
		out    string
		inputs buildInputs
		linked chan linkedAnswer
	}
	targets := make([]*target, len(svcs))
	unchanged := true
	var arts []Artifact
	for i, s := range svcs {
		t := &target{s: s, out: binaryPath(c, s.Name, p)}
		t.inputs = readBuildInputs(c, t.out, append(slices.Clip(flags), mains...), env)
		targets[i] = t
		fi, rec, ok := t.inputs.unchanged(t.out)
		unchanged = unchanged && ok
		if ok {
			a := Artifact{Service: s.Name, Platform: p, Path: t.out, Size: fi.Size(), SHA256: rec.SHA256, Linked: rec.Linked}
			notes, err := judgeLinked(c, p, a.Linked)
			if err != nil {
				return nil, err
			}
			a.Notes = notes
			arts = append(arts, a)
		}
	}
	if unchanged {
		return arts, nil
	}
	arts = nil
	dir := c.BinaryDir(p)
	if err := outdir.MkdirAll(c.Dist, dir); err != nil {
		return nil, fmt.Errorf("build %s: %w", p, err)
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", p, err)
	}
	defer os.RemoveAll(tmp)
	for _, t := range targets {
		copyFile(t.out, filepath.Join(tmp, filepath.Base(t.out))) // none: built from scratch
		// What the binary links is asked while the go command builds it
		// (it then reads what the build reads: it costs next to nothing).
		t.linked = make(chan linkedAnswer, 1)
		go func(t *target) {
			sc := *c
			sc.Main = t.s.Main
			l, err := readLinked(ctx, &sc, p)
			t.linked <- linkedAnswer{l, err}
		}(t)
	}
	wait := func() {
		for _, t := range targets {
			<-t.linked
		}
	}
	// One binary: named by its output (SLIMAGE_BINARY may rename it);
	// several: into the folder, where the go command names each after its
	// package, as the services are named.
	out := tmp + string(filepath.Separator)
	if len(targets) == 1 {
		out = filepath.Join(tmp, filepath.Base(targets[0].out))
	}
	if _, err := gotool.Build(ctx, gotool.Cmd{Dir: c.Dir, Env: env}, out, flags, mains, 0, l); err != nil {
		wait()
		return nil, buildError(ctx, c, p, mains, err)
	}
	for _, t := range targets {
		built := filepath.Join(tmp, filepath.Base(t.out))
		if err := CheckBinary(built, p); err != nil {
			wait()
			return nil, fmt.Errorf("build %s: %s %w", p, human.Path(t.out), err)
		}
		answer := <-t.linked
		if answer.err != nil {
			return nil, buildError(ctx, c, p, mains, answer.err)
		}
		notes, err := judgeLinked(c, p, answer.linked)
		if err != nil {
			return nil, err
		}
		t.linked <- answer // for remember, below
		arts = append(arts, Artifact{Service: t.s.Name, Platform: p, Path: t.out, Linked: answer.linked, Notes: notes})
	}
	for i, t := range targets {
		// An unchanged binary keeps its file (and so its identity on
		// disk): the image step sees at a stat that nothing needs
		// restaging.
		built := filepath.Join(tmp, filepath.Base(t.out))
		if !sameContent(t.out, built) {
			if err := os.Rename(built, t.out); err != nil {
				return nil, fmt.Errorf("build %s: %w", p, err)
			}
		}
		fi, err := os.Stat(t.out)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", p, err)
		}
		arts[i].Size = fi.Size()
		if arts[i].SHA256, err = fileSHA256(t.out); err != nil {
			return nil, fmt.Errorf("build %s: %w", p, err)
		}
		t.inputs.remember(t.out, arts[i].SHA256, (<-t.linked).linked)
	}
	return arts, nil
}

type linkedAnswer struct {
	linked Linked
	err    error
}

// buildError explains a failed build. The usual surprise with CGO_ENABLED=0
// is a dependency that only compiles with cgo; the compiler then reports
// undefined names far from the cause, so look for the package that imports
// "C" and name it instead.
func buildError(ctx context.Context, c *config.Config, p config.Platform, mains []string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("build %s: interrupted while compiling", p)
	}
	var exit *gotool.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("build %s: %w", p, err)
	}
	if pkgs := cgoPackages(ctx, c, p, mains); len(pkgs) > 0 {
		more := ""
		if len(pkgs) > 1 {
			more = fmt.Sprintf(" (and %d more: %s)", len(pkgs)-1, strings.Join(pkgs[1:], ", "))
		}
		return fmt.Errorf("build %s: package %s needs cgo (imports C)%s: slimage builds with CGO_ENABLED=0 for a static binary: set CGO-free build tags or drop the dependency", p, pkgs[0], more)
	}
	return fmt.Errorf("build %s: %s: %s", p, strings.Join(mains, " "), gotool.Cause(exit.Stderr))
}

// cgoPackages lists the non-standard packages in the main package's import
// graph that have cgo files when cgo is on: the standard library's all have
// pure-Go fallbacks, a third-party one usually does not.
func cgoPackages(ctx context.Context, c *config.Config, p config.Platform, mains []string) []string {
	env := moduleEnv(c, append([]string{"CGO_ENABLED=1"}, p.GoEnv()...)...)
	res, _ := gotool.Run(ctx, gotool.Cmd{Dir: c.Dir, Env: env,
		Args: append([]string{"list", "-e", "-deps", "-json=ImportPath,Standard,CgoFiles", modFlag(c)}, mains...)})
	var pkgs []string
	dec := json.NewDecoder(strings.NewReader(string(res.Stdout)))
	for {
		var pkg struct {
			ImportPath string
			Standard   bool
			CgoFiles   []string
		}
		if dec.Decode(&pkg) != nil {
			break
		}
		if !pkg.Standard && len(pkg.CgoFiles) > 0 {
			pkgs = append(pkgs, pkg.ImportPath)
		}
	}
	return pkgs
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func sameContent(a, b string) bool {
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	if err1 != nil || err2 != nil || ai.Size() != bi.Size() {
		return false
	}
	da, err1 := os.ReadFile(a)
	db, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && bytes.Equal(da, db)
}

// fileSHA256 is the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
