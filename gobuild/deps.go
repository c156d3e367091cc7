// Package gobuild is slimage's Go side: it fetches and verifies a module's
// dependencies and cross-compiles static, stripped, reproducible binaries,
// checking each one afterwards. It knows nothing about mage or images.
package gobuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/gotool"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/progress"
)

// Deps downloads the module's dependencies (`go mod download`) and checks
// the module cache against go.sum (`go mod verify`), honouring the user's
// GOPROXY, GOPRIVATE, GONOSUMDB and GOFLAGS. go.mod and go.sum are never
// rewritten: `go mod download` adds missing go.sum lines on its own, so
// Deps puts the files back and reports what was missing instead.
// A module with vendor/ is built from it: Deps checks vendor/ is
// consistent with go.mod and downloads nothing.
func Deps(ctx context.Context, c *config.Config, w io.Writer) error {
	mod := c.Module.Path
	if c.Vendor {
		if _, err := gotool.Run(ctx, gotool.Cmd{Dir: c.Dir, Env: readonlyEnv(c, "vendor"),
			Args: append([]string{"list", "-mod=vendor"}, mainPackages(c)...)}); err != nil {
			return depsError(mod, c.Dir, err)
		}
		fmt.Fprintf(w, "deps %s: vendor/ found, building with -mod=vendor (nothing to download)\n", mod)
		return nil
	}
	if c.Module.Requires == 0 {
		fmt.Fprintf(w, "deps %s: no dependencies\n", mod)
		return nil
	}
	gosum := filepath.Join(c.Dir, "go.sum")
	if _, err := os.Stat(gosum); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deps %s: %s is missing: run 'go mod tidy' in %s and commit go.sum", mod, gosum, c.Dir)
	}
	v := newModuleVerifier()
	if v != nil && c.DepsVerify == "fast" {
		if n, ok, err := v.unchangedSinceLastDeps(ctx, c, gosum); err != nil {
			return depsError(mod, c.Dir, err)
		} else if ok {
			fmt.Fprintf(w, "deps %s: %d module%s downloaded and verified (go.mod, go.sum and the module cache unchanged since the last deps)\n", mod, n, human.Plural(n))
			return nil
		}
	}
	guard, err := guardFiles(c.Module.GoMod, gosum)
	if err != nil {
		return fmt.Errorf("deps %s: %w", mod, err)
	}
	// A cold module cache can take minutes: say how far the download is.
	l := progress.Start(w, "deps "+mod)
	defer l.End("")
	required, _ := gotool.Requires(c.Module.GoMod) // a go.mod the go command cannot read fails just below
	res, err := gotool.Download(ctx, gotool.Cmd{Dir: c.Dir, Env: readonlyEnv(c, "readonly"),
		Args: []string{"mod", "download", "-json"}}, c.GoEnv.GOMODCACHE, required, l)
	if added, restoreErr := guard.restore(); restoreErr != nil {
		return fmt.Errorf("deps %s: %w", mod, restoreErr)
	} else if len(added) > 0 && ctx.Err() == nil {
		return fmt.Errorf("deps %s: go.sum lacks %s: run 'go mod tidy' in %s and commit go.sum", mod, strings.Join(added, ", "), c.Dir)
	}
	if err != nil {
		return depsError(mod, c.Dir, downloadError(res.Stdout, err))
	}
	mods, err := decodeDownloads(res.Stdout)
	if err != nil {
		return fmt.Errorf("deps %s: read go mod download output: %w", mod, err)
	}
	// go mod download keeps quiet when go.sum has a module's go.mod hash but
	// not its zip hash; the build would then fail far from the cause.
	sums, err := os.ReadFile(gosum)
	if err != nil {
		return fmt.Errorf("deps %s: %w", mod, err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(sums), "\n") {
		have[strings.Join(strings.Fields(l), " ")] = true
	}
	var missing []string
	for _, m := range mods {
		if m.Sum != "" && !have[m.Path+" "+m.Version+" "+m.Sum] {
			missing = append(missing, m.Path+"@"+m.Version)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("deps %s: go.sum lacks %s: run 'go mod tidy' in %s and commit go.sum", mod, strings.Join(missing, ", "), c.Dir)
	}
	l.Set("verifying modules", -1, 0)
	unchanged, err := verifyCache(ctx, c, v, mods)
	l.End("")
	if err != nil {
		return depsError(mod, c.Dir, err)
	}
	if v != nil {
		_ = v.rememberDeps(c, gosum, mods) // a missing record only costs the next run a go mod download
	}
	note := ""
	if unchanged > 0 {
		note = fmt.Sprintf(" (%d unchanged since last verified, not re-hashed)", unchanged)
	}
	fmt.Fprintf(w, "deps %s: %d module%s downloaded and verified%s\n", mod, len(mods), human.Plural(len(mods)), note)
	return nil
}

// verifyCache checks the module cache against go.sum, as `go mod verify`
// does. In full mode (SLIMAGE_DEPS_VERIFY=full, and on CI by default) it
// runs go mod verify, which hashes every module folder on every run; in
// fast mode it hashes only the folders whose files changed since slimage
// last verified them, and says how many it skipped. Either way it leaves
// records for the next fast run. v is nil where stamps do not work.
func verifyCache(ctx context.Context, c *config.Config, v *moduleVerifier, mods []download) (unchanged int, err error) {
	if c.DepsVerify == "full" || v == nil {
		if _, err := gotool.Run(ctx, gotool.Cmd{Dir: c.Dir, Env: readonlyEnv(c, "readonly"),
			Args: []string{"mod", "verify"}}); err != nil {
			return 0, err
		}
		if v != nil {
			for _, m := range mods {
				if m.Dir != "" && m.Zip != "" && m.Sum != "" {
					_ = v.record(m) // a missing record only costs the next run a hash
				}
			}
		}
		return 0, nil
	}
	unchanged, _, err = v.checkAll(ctx, mods)
	if err != nil && ctx.Err() == nil {
		// Worded as go mod verify words it, so depsError reads both alike.
		err = &gotool.ExitError{Args: []string{"mod", "verify"}, Stderr: err.Error()}
	}
	return unchanged, err
}

// readonlyEnv appends -mod=<mode> to the user's GOFLAGS: flags on GOFLAGS are
// honoured, and a later -mod wins over an earlier one.
func readonlyEnv(c *config.Config, mode string) []string {
	return moduleEnv(c, "GOFLAGS="+strings.TrimSpace(c.GoEnv.GOFLAGS+" -mod="+mode))
}

// moduleEnv is the environment the module's go commands get on top of the
// process's: c.ModuleGoEnv, then slimage's own settings (later ones win).
func moduleEnv(c *config.Config, own ...string) []string {
	return append(append([]string(nil), c.ModuleGoEnv...), own...)
}

// download is one module in the output of `go mod download -json`.
type download struct{ Path, Version, Sum, Dir, Zip, Error string }

func decodeDownloads(stdout []byte) ([]download, error) {
	var mods []download
	dec := json.NewDecoder(bytes.NewReader(stdout))
	for {
		var m download
		if err := dec.Decode(&m); err == io.EOF {
			return mods, nil
		} else if err != nil {
			return mods, err
		}
		mods = append(mods, m)
	}
}

// downloadError finds the per-module error that `go mod download -json`
// writes into its JSON output rather than to stderr.
func downloadError(stdout []byte, err error) error {
	mods, _ := decodeDownloads(stdout)
	for _, m := range mods {
		if m.Error != "" {
			return &gotool.ExitError{Args: []string{"mod", "download"}, Stderr: m.Error}
		}
	}
	return err
}

var (
	modVersion = regexp.MustCompile(`([a-zA-Z0-9][^\s:@]*)@(v[^\s:]+)`)
	// go mod verify: "example.com/m v1.2.3: dir has been modified (/path)"
	modifiedInCache = regexp.MustCompile(`(\S+) (v\S+): (?:dir|zip) has been modified \(([^)]*)\)`)
)

// depsError turns what the go command said into one line naming the module
// at fault, its cause, and the fix.
func depsError(mod, dir string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("deps %s: interrupted", mod)
	}
	var exit *gotool.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("deps %s: %w", mod, err)
	}
	out := exit.Stderr
	culprit := "a dependency"
	if m := modVersion.FindStringSubmatch(out); m != nil {
		culprit = m[1] + "@" + m[2]
	}
	if m := modifiedInCache.FindStringSubmatch(out); m != nil {
		return fmt.Errorf("deps %s: %s@%s in the module cache (%s) was modified after download: run 'go clean -modcache' and deps again", mod, m[1], m[2], m[3])
	}
	switch {
	case strings.Contains(out, "checksum mismatch"):
		return fmt.Errorf("deps %s: checksum mismatch for %s: the downloaded module differs from go.sum: find out which one changed (do not just delete the go.sum line); if the module cache is at fault, run 'go clean -modcache'", mod, culprit)
	case strings.Contains(out, "missing go.sum entry"):
		return fmt.Errorf("deps %s: go.sum lacks an entry for %s: run 'go mod tidy' in %s and commit go.sum", mod, culprit, dir)
	case strings.Contains(out, "inconsistent vendoring"):
		return fmt.Errorf("deps %s: vendor/ does not match go.mod: run 'go mod vendor' in %s and commit vendor/", mod, dir)
	case gotool.IsNetworkError(out):
		return fmt.Errorf("deps %s: %s: the module proxy is unreachable and the module cache lacks it: check the network and GOPROXY, or warm the cache where the network is reachable", mod, gotool.Cause(out))
	}
	return fmt.Errorf("deps %s: %s", mod, gotool.Cause(out))
}

// fileGuard remembers files so that a go command that should not have
// written them can be undone.
type fileGuard struct{ files map[string][]byte }

func guardFiles(paths ...string) (*fileGuard, error) {
	g := &fileGuard{files: map[string][]byte{}}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		g.files[p] = data
	}
	return g, nil
}

// restore writes back any file that changed and returns the lines that had
// been added to it (the go.sum entries the module lacked).
func (g *fileGuard) restore() (added []string, err error) {
	for p, old := range g.files {
		now, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(now, old) {
			continue
		}
		oldLines := map[string]bool{}
		for _, l := range strings.Split(string(old), "\n") {
			oldLines[l] = true
		}
		for _, l := range strings.Split(string(now), "\n") {
			if l != "" && !oldLines[l] {
				f := strings.Fields(l)
				if len(f) >= 2 {
					added = append(added, f[0]+"@"+strings.TrimSuffix(f[1], "/go.mod"))
				}
			}
		}
		if err := atomicfile.Write(p, old, 0o644); err != nil {
			return nil, err
		}
	}
	return dedupe(added), nil
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
