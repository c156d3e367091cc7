package gobuild

import (
	"context"
	"encoding/json"
	"fmt"
	"go/build"
	"slices"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/gotool"
)

// A package with cgo files still builds with CGO_ENABLED=0 when it has a
// fallback for that case, and some fallbacks are stubs: every call fails at
// run time. The build names each linked package whose cgo files were left
// out, so that no one finds out in production.

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

// droppedCgo lists the packages linked into c's binary for p (the
// standard library aside: its cgo parts all have pure-Go equivalents)
// whose files with cgo would have been built with cgo on: the go command
// lists the files it ignored, and go/build says which of those match the
// platform with cgo.
func droppedCgo(ctx context.Context, c *config.Config, p config.Platform) ([]CgoDropped, error) {
	env := moduleEnv(c, append([]string{"CGO_ENABLED=0"}, p.GoEnv()...)...)
	res, err := gotool.Run(ctx, gotool.Cmd{Dir: c.Dir, Env: env,
		Args: []string{"list", "-e", "-deps", "-json=ImportPath,Standard,Dir,IgnoredGoFiles", modFlag(c), c.Main}})
	if err != nil {
		return nil, err
	}
	withCgo := build.Default
	withCgo.GOOS, withCgo.GOARCH, withCgo.CgoEnabled = p.OS, p.Arch, true
	withCgo.BuildTags = buildTags(c.GoEnv.GOFLAGS)
	var out []CgoDropped
	dec := json.NewDecoder(strings.NewReader(string(res.Stdout)))
	for {
		var pkg struct {
			ImportPath, Dir string
			Standard        bool
			IgnoredGoFiles  []string
		}
		if dec.Decode(&pkg) != nil {
			break
		}
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
	return out, nil
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

// judgeCgo fails the build of p for a known stub (unless allowed) or, with
// SLIMAGE_CGO_DROPPED=fail, for any package built without its cgo files;
// it returns a note for each other one.
func judgeCgo(c *config.Config, p config.Platform, dropped []CgoDropped) (notes []string, err error) {
	if c.CgoDropped == "allow" {
		return nil, nil
	}
	for _, d := range dropped {
		files := strings.Join(d.Files, ", ")
		if fix, ok := knownStubs[d.Package]; ok {
			return nil, fmt.Errorf("build %s: package %s is a stub without cgo (CGO_ENABLED=0 leaves out %s, and every call then fails at run time): %s, or set SLIMAGE_CGO_DROPPED=allow if the service never calls it", p, d.Package, files, fix)
		}
		if c.CgoDropped == "fail" {
			return nil, fmt.Errorf("build %s: package %s is built without its cgo files (%s), and SLIMAGE_CGO_DROPPED=fail: drop the package, find a pure-Go one, or set SLIMAGE_CGO_DROPPED=warn once you know it works without them", p, d.Package, files)
		}
		notes = append(notes, fmt.Sprintf("build %s: note: package %s is built without its cgo files (%s): check that it works without them (SLIMAGE_CGO_DROPPED=fail refuses it, =allow says nothing)", p, d.Package, files))
	}
	slices.Sort(notes)
	return notes, nil
}
