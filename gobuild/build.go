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
// failure. What it made goes into c.Built for the steps after it. A build
// that takes longer than a second shows its progress on w (see package
// progress).
func Build(ctx context.Context, c *config.Config, w io.Writer) ([]Artifact, error) {
	var arts []Artifact
	for _, p := range c.Platforms {
		t := TargetFor(c, p)
		l := progress.Start(w, "build "+p.String())
		built, err := buildTarget(ctx, t, l)
		l.End("")
		if err != nil {
			return arts, err
		}
		for i, a := range built {
			c.RecordBuilt(config.Binary{Service: a.Service, Platform: p, Path: a.Path, SHA256: a.SHA256,
				Flags: append(slices.Clip(t.Flags), t.Binaries[i].Main), Env: PlatformEnv(p)})
			for _, n := range a.Notes {
				fmt.Fprintln(w, n)
			}
			fmt.Fprintf(w, "build %-14s %s  %s\n", p, human.Path(a.Path), human.Size(a.Size))
		}
		arts = append(arts, built...)
	}
	return arts, nil
}

// BuildTarget builds t quietly: one artifact per binary, in t's order.
func BuildTarget(ctx context.Context, t Target) ([]Artifact, error) {
	return buildTarget(ctx, t, nil)
}

// buildTarget builds every binary of t with one go command, showing its
// progress on l (nil: nowhere).
//
// The go command writes into a temp folder beside the outputs; each binary
// is renamed over its output only once the build and the checks pass, so
// an output path never holds half a binary or a bad one. The temp folder
// starts with copies of the previous outputs: the go command sees their
// build IDs are current and skips the link of each that did not change.
// When no input changed since the last build (see buildRecord), the go
// command is not run at all.
func buildTarget(ctx context.Context, t Target, l *progress.Line) ([]Artifact, error) {
	p := t.Platform
	var mains []string
	for _, b := range t.Binaries {
		mains = append(mains, b.Main)
	}
	type binary struct {
		Output
		inputs buildInputs
		linked chan linkedAnswer
	}
	bins := make([]*binary, len(t.Binaries))
	unchanged := true
	var arts []Artifact
	for i, o := range t.Binaries {
		b := &binary{Output: o}
		b.inputs = readBuildInputs(t.Inputs, b.Path, append(slices.Clip(t.Flags), mains...), t.Env)
		bins[i] = b
		fi, rec, ok := b.inputs.unchanged(b.Path)
		unchanged = unchanged && ok
		if ok {
			a := Artifact{Service: b.Service, Platform: p, Path: b.Path, Size: fi.Size(), SHA256: rec.SHA256, Linked: rec.Linked}
			notes, err := judgeLinked(t, a.Linked)
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
	dir := filepath.Dir(t.Binaries[0].Path)
	if err := outdir.MkdirAll(t.Dist, dir); err != nil {
		return nil, fmt.Errorf("build %s: %w", p, err)
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", p, err)
	}
	defer os.RemoveAll(tmp)
	for _, b := range bins {
		copyFile(b.Path, filepath.Join(tmp, filepath.Base(b.Path))) // none: built from scratch
		// What the binary links is asked while the go command builds it
		// (it then reads what the build reads: it costs next to nothing).
		b.linked = make(chan linkedAnswer, 1)
		go func(b *binary) {
			l, err := readLinked(ctx, t, b.Main)
			b.linked <- linkedAnswer{l, err}
		}(b)
	}
	wait := func() {
		for _, b := range bins {
			<-b.linked
		}
	}
	// One binary: named by its output (SLIMAGE_BINARY may rename it);
	// several: into the folder, where the go command names each after its
	// package, as the services are named.
	out := tmp + string(filepath.Separator)
	if len(bins) == 1 {
		out = filepath.Join(tmp, filepath.Base(bins[0].Path))
	}
	if _, err := gotool.Build(ctx, gotool.Cmd{Dir: t.Dir, Env: t.Env}, out, t.Flags, mains, 0, l); err != nil {
		wait()
		return nil, buildError(ctx, t, err)
	}
	for _, b := range bins {
		built := filepath.Join(tmp, filepath.Base(b.Path))
		if err := CheckBinary(built, p); err != nil {
			wait()
			return nil, fmt.Errorf("build %s: %s %w", p, human.Path(b.Path), err)
		}
		answer := <-b.linked
		if answer.err != nil {
			return nil, buildError(ctx, t, answer.err)
		}
		notes, err := judgeLinked(t, answer.linked)
		if err != nil {
			return nil, err
		}
		b.linked <- answer // for remember, below
		arts = append(arts, Artifact{Service: b.Service, Platform: p, Path: b.Path, Linked: answer.linked, Notes: notes})
	}
	for i, b := range bins {
		// An unchanged binary keeps its file (and so its identity on
		// disk): the image step sees at a stat that nothing needs
		// restaging.
		built := filepath.Join(tmp, filepath.Base(b.Path))
		if !sameContent(b.Path, built) {
			if err := os.Rename(built, b.Path); err != nil {
				return nil, fmt.Errorf("build %s: %w", p, err)
			}
		}
		fi, err := os.Stat(b.Path)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", p, err)
		}
		arts[i].Size = fi.Size()
		if arts[i].SHA256, err = fileSHA256(b.Path); err != nil {
			return nil, fmt.Errorf("build %s: %w", p, err)
		}
		b.inputs.remember(b.Path, arts[i].SHA256, (<-b.linked).linked)
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
func buildError(ctx context.Context, t Target, err error) error {
	p := t.Platform
	if ctx.Err() != nil {
		return fmt.Errorf("build %s: interrupted while compiling", p)
	}
	var exit *gotool.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("build %s: %w", p, err)
	}
	if pkgs := cgoPackages(ctx, t); len(pkgs) > 0 {
		more := ""
		if len(pkgs) > 1 {
			more = fmt.Sprintf(" (and %d more: %s)", len(pkgs)-1, strings.Join(pkgs[1:], ", "))
		}
		return fmt.Errorf("build %s: package %s needs cgo (imports C)%s: slimage builds with CGO_ENABLED=0 for a static binary: set CGO-free build tags or drop the dependency", p, pkgs[0], more)
	}
	var mains []string
	for _, b := range t.Binaries {
		mains = append(mains, b.Main)
	}
	return fmt.Errorf("build %s: %s: %s", p, strings.Join(mains, " "), gotool.Cause(exit.Stderr))
}

// cgoPackages lists the non-standard packages in the main package's import
// graph that have cgo files when cgo is on: the standard library's all have
// pure-Go fallbacks, a third-party one usually does not.
func cgoPackages(ctx context.Context, t Target) []string {
	args := append([]string{"list", "-e", "-deps", "-json=ImportPath,Standard,CgoFiles"}, t.Flags...)
	for _, b := range t.Binaries {
		args = append(args, b.Main)
	}
	res, _ := gotool.Run(ctx, gotool.Cmd{Dir: t.Dir, Env: append(slices.Clip(t.Env), "CGO_ENABLED=1"), Args: args})
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
