package gobuild

import (
	"bytes"
	"context"
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
	Platform config.Platform
	Path     string
	Size     int64
	// Linked is what the build found in what it linked (see readLinked);
	// Notes say it, where it does not fail the build.
	Linked Linked
	Notes  []string
}

// Build cross-compiles c.Main for every platform in c.Platforms into
// <dist>/<os>_<arch>[_<variant>]/<binary> and checks each result with
// CheckBinary. It stops at the first failure.
// A build that takes longer than a second shows its progress on w (see
// package progress).
func Build(ctx context.Context, c *config.Config, w io.Writer) ([]Artifact, error) {
	var arts []Artifact
	for _, p := range c.Platforms {
		l := progress.Start(w, "build "+p.String())
		a, err := buildPlatform(ctx, c, p, l)
		l.End("")
		if err != nil {
			return arts, err
		}
		for _, n := range a.Notes {
			fmt.Fprintln(w, n)
		}
		fmt.Fprintf(w, "build %-14s %s  %s\n", p, human.Path(a.Path), human.Size(a.Size))
		arts = append(arts, a)
	}
	return arts, nil
}

// OutputPath is where Build puts the binary for p.
func OutputPath(c *config.Config, p config.Platform) string {
	name := c.Binary
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

// BuildPlatform builds one platform. The go command writes to a temp file
// beside the output, which is renamed over it only once the build and the
// checks pass, so the output path never holds half a binary or a bad one.
// The temp file starts as a copy of the previous output: the go command sees
// its build ID is current and skips the link when nothing changed. When no
// input changed since the last build (see buildRecord), the go command is
// not run at all.
func BuildPlatform(ctx context.Context, c *config.Config, p config.Platform) (Artifact, error) {
	return buildPlatform(ctx, c, p, nil)
}

// buildPlatform is BuildPlatform showing the go command's progress on l
// (nil: nowhere).
func buildPlatform(ctx context.Context, c *config.Config, p config.Platform, l *progress.Line) (Artifact, error) {
	out := OutputPath(c, p)
	env := moduleEnv(c, append([]string{"CGO_ENABLED=0"}, p.GoEnv()...)...)
	flags := Flags(c)
	inputs := readBuildInputs(c, out, append(slices.Clip(flags), c.Main), env)
	if fi, rec, ok := inputs.unchanged(out); ok {
		a := Artifact{Platform: p, Path: out, Size: fi.Size(), Linked: rec.Linked}
		notes, err := judgeLinked(c, p, a.Linked)
		a.Notes = notes
		return a, err
	}
	if err := outdir.MkdirAll(c.Dist, filepath.Dir(out)); err != nil {
		return Artifact{}, fmt.Errorf("build %s: %w", p, err)
	}
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp")
	defer os.Remove(tmp)
	if err := copyFile(out, tmp); err != nil {
		os.Remove(tmp) // no previous output: the go command builds from scratch
	}
	// What the binary links is asked while the go command builds it (the
	// go command then reads what the build reads: it costs next to nothing).
	type linkedAnswer struct {
		linked Linked
		err    error
	}
	linked := make(chan linkedAnswer, 1)
	go func() {
		l, err := readLinked(ctx, c, p)
		linked <- linkedAnswer{l, err}
	}()
	if _, err := gotool.Build(ctx, gotool.Cmd{Dir: c.Dir, Env: env}, tmp, flags, []string{c.Main}, 0, l); err != nil {
		<-linked
		return Artifact{}, buildError(ctx, c, p, err)
	}
	if err := CheckBinary(tmp, p); err != nil {
		<-linked
		return Artifact{}, fmt.Errorf("build %s: %s %w", p, human.Path(out), err)
	}
	answer := <-linked
	if answer.err != nil {
		return Artifact{}, buildError(ctx, c, p, answer.err)
	}
	notes, err := judgeLinked(c, p, answer.linked)
	if err != nil {
		return Artifact{}, err
	}
	// An unchanged binary keeps its file (and so its identity on disk): the
	// image step sees at a stat that nothing needs restaging.
	if !sameContent(out, tmp) {
		if err := os.Rename(tmp, out); err != nil {
			return Artifact{}, fmt.Errorf("build %s: %w", p, err)
		}
	}
	fi, err := os.Stat(out)
	if err != nil {
		return Artifact{}, fmt.Errorf("build %s: %w", p, err)
	}
	inputs.remember(out, answer.linked)
	return Artifact{Platform: p, Path: out, Size: fi.Size(), Linked: answer.linked, Notes: notes}, nil
}

// buildError explains a failed build. The usual surprise with CGO_ENABLED=0
// is a dependency that only compiles with cgo; the compiler then reports
// undefined names far from the cause, so look for the package that imports
// "C" and name it instead.
func buildError(ctx context.Context, c *config.Config, p config.Platform, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("build %s: interrupted while compiling", p)
	}
	var exit *gotool.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("build %s: %w", p, err)
	}
	if pkgs := cgoPackages(ctx, c, p); len(pkgs) > 0 {
		more := ""
		if len(pkgs) > 1 {
			more = fmt.Sprintf(" (and %d more: %s)", len(pkgs)-1, strings.Join(pkgs[1:], ", "))
		}
		return fmt.Errorf("build %s: package %s needs cgo (imports C)%s: slimage builds with CGO_ENABLED=0 for a static binary: set CGO-free build tags or drop the dependency", p, pkgs[0], more)
	}
	return fmt.Errorf("build %s: %s: %s", p, c.Main, gotool.Cause(exit.Stderr))
}

// cgoPackages lists the non-standard packages in the main package's import
// graph that have cgo files when cgo is on: the standard library's all have
// pure-Go fallbacks, a third-party one usually does not.
func cgoPackages(ctx context.Context, c *config.Config, p config.Platform) []string {
	env := moduleEnv(c, append([]string{"CGO_ENABLED=1"}, p.GoEnv()...)...)
	res, _ := gotool.Run(ctx, gotool.Cmd{Dir: c.Dir, Env: env,
		Args: []string{"list", "-e", "-deps", "-json=ImportPath,Standard,CgoFiles", modFlag(c), c.Main}})
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
