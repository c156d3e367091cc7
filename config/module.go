package config

import (
	"errors"
	"fmt"
	"go/build"
	"go/version"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/mod/module"

	"github.com/slimage/slimage/internal/gotool"
)

// What go.mod and the module's folders say: the module, its Go version, its main package.

// readModule reads go.mod (see parseGoMod).
func (c *Config) readModule() error {
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("check SLIMAGE_DIR: %w", err)
	}
	c.Dir = dir
	gomod := filepath.Join(dir, "go.mod")
	data, err := os.ReadFile(gomod)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check SLIMAGE_DIR: %s is not a Go module (no go.mod): point SLIMAGE_DIR at the folder that holds go.mod, or run 'go mod init' there", dir)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", gomod, err)
	}
	m, err := parseGoMod(gomod, dir, data)
	if errors.Is(err, errNoModuleLine) {
		return fmt.Errorf("read %s: no module line: add 'module <path>' or run 'go mod init'", gomod)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w: fix it, or run 'go mod tidy' to see the go command's view", gomod, err)
	}
	c.Module = m
	return nil
}

// checkGoVersion fails early when go.mod needs a newer Go than the local one
// and GOTOOLCHAIN forbids the go command to fetch it, instead of letting
// every later step fail with the go command's own message.
func (c *Config) checkGoVersion() error {
	local := c.GoEnv.GOVERSION
	need, what := "go"+c.Module.Go, "go "+c.Module.Go
	if t := c.Module.Toolchain; t != "" && version.Compare(t, need) > 0 {
		need, what = t, "toolchain "+t
	}
	if c.Module.Go == "" || !version.IsValid(local) || version.Compare(need, local) <= 0 {
		return nil
	}
	tc := c.GoEnv.GOTOOLCHAIN
	if gotool.MayFetchToolchain(tc) {
		return nil // the go command will switch to (or find) the toolchain go.mod names
	}
	return fmt.Errorf("check %s: it asks for %s but the local Go is %s and GOTOOLCHAIN=%s: install %s, or set GOTOOLCHAIN=auto to let the go command fetch it",
		c.Module.GoMod, what, local, tc, need)
}

// resolveMains finds or checks the main packages, each a service.
// SLIMAGE_MAIN is a comma list of packages ("./cmd/api", "cmd/api",
// "example.com/shop/cmd/api") and patterns ("./cmd/...", every main
// package below); without it, every main package at the module's root and
// under cmd/, else every main package of the module.
func (c *Config) resolveMains() ([]string, error) {
	var mains []string
	add := func(m string) {
		if !slices.Contains(mains, m) {
			mains = append(mains, m)
		}
	}
	for _, item := range splitList(c.Main, ",") {
		if base, ok := strings.CutSuffix(item, "/..."); ok || item == "..." {
			rel := "."
			if ok {
				var err error
				if rel, err = c.relPackage(base); err != nil {
					return nil, err
				}
			}
			found := c.findMainsUnder(filepath.Join(c.Dir, filepath.FromSlash(rel)))
			if len(found) == 0 {
				return nil, fmt.Errorf("check SLIMAGE_MAIN: %s matches no main package in module %s: name folders that hold package main", item, c.Module.Path)
			}
			for _, m := range found {
				add(m)
			}
			continue
		}
		rel, err := c.relPackage(item)
		if err != nil {
			return nil, err
		}
		name, err := packageName(filepath.Join(c.Dir, rel))
		if err != nil && !errors.Is(err, errNeedsCgo) {
			return nil, fmt.Errorf("check SLIMAGE_MAIN: %s: %w: name a folder of module %s that holds package main", item, err, c.Module.Path)
		}
		if name != "main" {
			return nil, fmt.Errorf("check SLIMAGE_MAIN: %s is package %s, not a main package: name the folder of a command (package main)", item, name)
		}
		add(rel)
	}
	if len(mains) == 0 {
		if name, _ := packageName(c.Dir); name == "main" {
			add(".")
		}
		cmds, _ := filepath.Glob(filepath.Join(c.Dir, "cmd", "*"))
		sort.Strings(cmds)
		for _, d := range cmds {
			if name, _ := packageName(d); name == "main" {
				add("./cmd/" + filepath.Base(d))
			}
		}
	}
	if len(mains) == 0 {
		mains = c.findMainsUnder(c.Dir)
	}
	if len(mains) == 0 {
		return nil, fmt.Errorf("check SLIMAGE_MAIN: module %s has no main package: add one (package main at the root or in cmd/<name>), or set SLIMAGE_MAIN", c.Module.Path)
	}
	for _, m := range mains {
		// A main package whose files all import C builds only with cgo.
		if _, err := packageName(filepath.Join(c.Dir, filepath.FromSlash(m))); errors.Is(err, errNeedsCgo) {
			return nil, fmt.Errorf("check SLIMAGE_MAIN: %s needs cgo (its Go files import C): slimage builds with CGO_ENABLED=0 for a static binary: move the C parts behind a cgo build tag with a pure-Go fallback, or build it elsewhere", m)
		}
	}
	return mains, nil
}

// relPackage turns "./x", "x" or "<module path>/x" into "./x" inside Dir.
func (c *Config) relPackage(p string) (string, error) {
	if p == c.Module.Path {
		return ".", nil
	}
	if rest, ok := strings.CutPrefix(p, c.Module.Path+"/"); ok {
		p = rest
	}
	clean := filepath.ToSlash(filepath.Clean(p))
	if filepath.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("check SLIMAGE_MAIN: %s is outside module %s (%s): name a folder inside it", p, c.Module.Path, c.Dir)
	}
	if clean == "." {
		return ".", nil
	}
	return "./" + clean, nil
}

// findMainsUnder walks root, a folder of the module, for main packages,
// skipping what the go tool skips (testdata, vendor, _ and . folders) and
// nested modules.
func (c *Config) findMainsUnder(root string) []string {
	var found []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != root {
			base := d.Name()
			if base == "testdata" || base == "vendor" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		if name, _ := packageName(p); name == "main" {
			rel, _ := filepath.Rel(c.Dir, p)
			if rel == "." {
				found = append(found, ".")
			} else {
				found = append(found, "./"+filepath.ToSlash(rel))
			}
		}
		return nil
	})
	sort.Strings(found)
	return found
}

// packageName reads the package clause of the Go files in dir without
// running the go command: this runs on every target, so it must be cheap.
// A folder whose files all need cgo gives its name and errNeedsCgo.
func packageName(dir string) (string, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", errors.New("no such folder")
	}
	ctx := build.Default
	ctx.CgoEnabled = false
	p, err := ctx.ImportDir(dir, build.ImportComment)
	var noGo *build.NoGoError
	if errors.As(err, &noGo) {
		ctx.CgoEnabled = true
		if p, cgoErr := ctx.ImportDir(dir, build.ImportComment); cgoErr == nil && len(p.CgoFiles) > 0 {
			return p.Name, errNeedsCgo
		}
		return "", errors.New("no Go files there")
	}
	if err != nil {
		return "", err
	}
	return p.Name, nil
}

var errNeedsCgo = errors.New("needs cgo")

// binaryName follows the go command: a command is named after its folder,
// or for the module root after the module path's last element, without a
// /vN major-version suffix.
func binaryName(modPath, main string) string {
	p := modPath
	if main != "." {
		p = modPath + "/" + strings.TrimPrefix(main, "./")
	}
	if prefix, _, ok := module.SplitPathVersion(p); ok && prefix != "" {
		p = prefix
	}
	return path.Base(p)
}
