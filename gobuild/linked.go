package gobuild

import (
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/gotool"
)

// What the build links says two things the go command keeps quiet about:
// a package whose cgo files CGO_ENABLED=0 left out (its fallback may be a
// stub, whose every call fails at run time), and an -X target that names
// no string variable (the go command ignores it). The build names both,
// from one `go list` run while it compiles.

// knownStubs are packages whose build without cgo is a stub, with the fix.
// They fail the build unless SLIMAGE_CGO_DROPPED=allow.
var knownStubs = map[string]string{
	"github.com/mattn/go-sqlite3": "use a pure-Go SQLite driver (modernc.org/sqlite, or github.com/ncruces/go-sqlite3)",
}

// CgoDropped is a linked package whose cgo files CGO_ENABLED=0 left out.
type CgoDropped struct {
	Package string   `json:"package"`
	Files   []string `json:"files"`
}

// Linked is what the build found in the packages it linked.
type Linked struct {
	CgoDropped []CgoDropped `json:"cgoDropped,omitempty"`
	// Unstamped are the -X targets that name no string variable, each
	// with why ("package main declares no string variable version").
	Unstamped []string `json:"unstamped,omitempty"`
}

// listedPackage is a package as go list -json describes it.
type listedPackage struct {
	ImportPath, Dir, Name   string
	Standard                bool
	GoFiles, IgnoredGoFiles []string
}

// readLinked asks the go command which packages t's binary of main links
// (the flags and environment of the build), and judges them: the
// non-standard ones whose files with cgo would have been built with cgo
// on (the standard library's cgo parts all have pure-Go equivalents), and
// the -X targets that find no string variable.
func readLinked(ctx context.Context, t Target, main string) (Linked, error) {
	args := append([]string{"list", "-e", "-deps", "-json=ImportPath,Name,Standard,Dir,GoFiles,IgnoredGoFiles"}, t.Flags...)
	res, err := gotool.Run(ctx, gotool.Cmd{Dir: t.Dir, Env: t.Env, Args: append(args, main)})
	if err != nil {
		return Linked{}, err
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(res.Stdout)))
	for {
		var pkg listedPackage
		if dec.Decode(&pkg) != nil {
			break
		}
		pkgs = append(pkgs, pkg)
	}
	var l Linked
	l.CgoDropped = droppedCgo(pkgs, t.Platform, t.Tags)
	for _, v := range t.Stamps {
		if why := unstamped(pkgs, v); why != "" {
			l.Unstamped = append(l.Unstamped, why)
		}
	}
	return l, nil
}

// droppedCgo lists the non-standard packages with files that match p with
// cgo on and were ignored with it off.
func droppedCgo(pkgs []listedPackage, p config.Platform, tags []string) []CgoDropped {
	withCgo := build.Default
	withCgo.GOOS, withCgo.GOARCH, withCgo.CgoEnabled, withCgo.BuildTags = p.OS, p.Arch, true, tags
	var out []CgoDropped
	for _, pkg := range pkgs {
		if pkg.Standard || len(pkg.IgnoredGoFiles) == 0 {
			continue
		}
		var files []string
		for _, f := range pkg.IgnoredGoFiles {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			if ok, err := withCgo.MatchFile(pkg.Dir, f); err == nil && ok {
				files = append(files, f)
			}
		}
		if len(files) > 0 {
			out = append(out, CgoDropped{Package: pkg.ImportPath, Files: files})
		}
	}
	return out
}

// unstamped says why the -X target v (importpath.name, "main" for the main
// package) sets nothing, or "": -X sets only a package-level string
// variable (the linker refuses one of another type).
func unstamped(pkgs []listedPackage, v string) string {
	dot := strings.LastIndex(v, ".")
	path, name := v[:dot], v[dot+1:]
	var pkg *listedPackage
	for i := range pkgs {
		if pkgs[i].ImportPath == path || path == "main" && pkgs[i].Name == "main" {
			pkg = &pkgs[i]
		}
	}
	if pkg == nil {
		return fmt.Sprintf("-X %s sets nothing: the binary links no package %s", v, path)
	}
	for _, f := range pkg.GoFiles {
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(pkg.Dir, f), nil, parser.SkipObjectResolution)
		if err != nil {
			return "" // the compiler read it: nothing to say
		}
		for _, decl := range file.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.VAR {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if n.Name != name {
						continue
					}
					if t, ok := vs.Type.(*ast.Ident); vs.Type != nil && (!ok || t.Name != "string") {
						return fmt.Sprintf("-X %s sets nothing: %s is not a string variable", v, name)
					}
					// (A variable initialized by a call is stamped too: Go's
					// compiler drops the initializer -X replaces.)
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind != token.STRING {
							return fmt.Sprintf("-X %s sets nothing: %s is not a string variable", v, name)
						}
					}
					return ""
				}
			}
		}
	}
	return fmt.Sprintf("-X %s sets nothing: package %s declares no string variable %s", v, path, name)
}

// buildTags reads -tags from GOFLAGS (the go command's only source of
// build tags for slimage's builds).
func buildTags(goflags string) []string {
	fields := strings.Fields(goflags)
	for i, f := range fields {
		v, ok := strings.CutPrefix(f, "-tags=")
		if !ok && (f == "-tags" || f == "--tags") && i+1 < len(fields) {
			v, ok = fields[i+1], true
		}
		if ok {
			return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
		}
	}
	return nil
}

// judgeLinked fails the build of p for a known stub (unless allowed) or,
// with SLIMAGE_CGO_DROPPED=fail, for any package built without its cgo
// files; it returns a note for each other one, and for each -X target
// that sets nothing.
func judgeLinked(t Target, l Linked) (notes []string, err error) {
	p := t.Platform
	for _, why := range l.Unstamped {
		notes = append(notes, fmt.Sprintf("build %s: note: %s: set SLIMAGE_VERSION_VAR to your version variable (importpath.name), or empty to stamp nothing", p, why))
	}
	if t.CgoDropped == "allow" {
		return notes, nil
	}
	for _, d := range l.CgoDropped {
		files := strings.Join(d.Files, ", ")
		if fix, ok := knownStubs[d.Package]; ok {
			return nil, fmt.Errorf("build %s: package %s is a stub without cgo (CGO_ENABLED=0 leaves out %s, and every call then fails at run time): %s, or set SLIMAGE_CGO_DROPPED=allow if the service never calls it", p, d.Package, files, fix)
		}
		if t.CgoDropped == "fail" {
			return nil, fmt.Errorf("build %s: package %s is built without its cgo files (%s), and SLIMAGE_CGO_DROPPED=fail: drop the package, find a pure-Go one, or set SLIMAGE_CGO_DROPPED=warn once you know it works without them", p, d.Package, files)
		}
		notes = append(notes, fmt.Sprintf("build %s: note: package %s is built without its cgo files (%s): check that it works without them (SLIMAGE_CGO_DROPPED=fail refuses it, =allow says nothing)", p, d.Package, files))
	}
	slices.Sort(notes)
	return notes, nil
}
