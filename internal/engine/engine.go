// Package engine finds, builds and runs slimage's image engine: the command
// of the module github.com/slimage/slimage/images, which holds everything
// that needs Docker's client, testcontainers-go or go-containerregistry.
// The front (this module) stays light because it only runs that command.
//
// The engine always comes from the same release as the front that runs it:
//   - a front used at a module version (a release or a pseudo-version) builds
//     the engine module at that same version, with the front pinned to it,
//     into the user cache (once: versions do not change);
//   - a front used from a folder (this repository, or a replace to a local
//     checkout) builds that folder's images/ module, again whenever its
//     files change.
package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/version"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/gotool"
)

const (
	// FrontPath is the importable module's path; the engine's is FrontPath+"/images".
	FrontPath = "github.com/slimage/slimage"
	cmdPath   = "/images/cmd/slimage-engine"
)

// Engine is a built engine binary and where it came from.
type Engine struct {
	Path    string // the executable
	Source  string // "github.com/slimage/slimage/images v1.2.3", or "local /src/slimage/images"
	Version string // the front's version as the engine sees it: a module version or "(local)"
	Built   bool   // this call built it (a cold cache or changed sources)
}

// Source is where the engine's code comes from: a local folder, or a module
// path and version.
type Source struct {
	Dir     string // the front's root folder, holding images/; "" for a module version
	Path    string // the front's module path (a fork's, under replace)
	Version string // the front's module version
}

func (s Source) String() string {
	if s.Dir != "" {
		return "local " + filepath.Join(s.Dir, "images")
	}
	return s.Path + "/images " + s.Version
}

// FindSource reads, from the running binary's build info (the magefile's),
// which slimage front it was built with.
func FindSource(ctx context.Context) (Source, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return localSource(ctx)
	}
	if bi.Main.Path == FrontPath {
		return localSource(ctx) // this repository's own magefile and tests
	}
	for _, d := range bi.Deps {
		if d.Path != FrontPath {
			continue
		}
		if r := d.Replace; r != nil {
			if r.Version == "" || r.Version == "(devel)" || modfile.IsDirectoryPath(r.Path) {
				return localSource(ctx) // replace => ../folder
			}
			return Source{Path: r.Path, Version: r.Version}, nil
		}
		if d.Version == "" || d.Version == "(devel)" {
			// The main module itself, as mage builds a magefile in it by file
			// names: this repository's own magefile.
			return localSource(ctx)
		}
		return Source{Path: d.Path, Version: d.Version}, nil
	}
	return localSource(ctx)
}

// localSource finds the folder this package was compiled from. mage builds
// magefiles without -trimpath, so the path is in the binary; with
// -trimpath the go command is asked instead.
func localSource(ctx context.Context) (Source, error) {
	_, file, _, _ := runtime.Caller(0)
	if filepath.IsAbs(file) {
		root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
		if _, err := os.Stat(filepath.Join(root, "images", "go.mod")); err == nil {
			return Source{Dir: root, Path: FrontPath, Version: "(local)"}, nil
		}
	}
	res, err := gotool.Run(ctx, gotool.Cmd{Args: []string{"list", "-m", "-f", "{{.Dir}}", FrontPath}})
	root := strings.TrimSpace(string(res.Stdout))
	if err == nil && root == "" {
		err = errors.New("go list -m names no folder")
	}
	if err != nil {
		return Source{}, fmt.Errorf("find the slimage engine: the magefile was built from a local %s whose folder is unknown here (%v): build the magefile without -trimpath, or require a released slimage", FrontPath, err)
	}
	if _, err := os.Stat(filepath.Join(root, "images", "go.mod")); err != nil {
		return Source{}, fmt.Errorf("find the slimage engine: %s has no images/go.mod: point the replace at a full slimage checkout", root)
	}
	return Source{Dir: root, Path: FrontPath, Version: "(local)"}, nil
}

// Ensure returns the engine for the running front, building it into the
// user cache when it is missing or, for a local folder, out of date. env is
// the go command's environment (config.Resolve has read it already).
func Ensure(ctx context.Context, env gotool.Env, progress io.Writer) (*Engine, error) {
	src, err := FindSource(ctx)
	if err != nil {
		return nil, err
	}
	cache, err := cacheDir()
	if err != nil {
		return nil, err
	}
	if src.Dir != "" {
		return ensureLocal(ctx, src, env, cache, progress)
	}
	return ensureModule(ctx, src, env, cache, progress)
}

func cacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the slimage engine: no user cache folder (%v): set HOME or XDG_CACHE_HOME", err)
	}
	return filepath.Join(dir, "slimage", "engine"), nil
}

func exeName() string {
	if runtime.GOOS == "windows" {
		return "slimage-engine.exe"
	}
	return "slimage-engine"
}

// ensureLocal rebuilds the folder's engine when a fingerprint of its files
// (names, sizes, modification times) and of the Go version changed; the
// check is a walk of a few hundred files, so an unchanged engine starts at
// once without asking the go command.
func ensureLocal(ctx context.Context, src Source, env gotool.Env, cache string, progress io.Writer) (*Engine, error) {
	engineDir := filepath.Join(src.Dir, "images")
	key := sha256.Sum256([]byte(src.Dir))
	dir := filepath.Join(cache, "local-"+hex.EncodeToString(key[:6]))
	bin := filepath.Join(dir, exeName())
	stamp := filepath.Join(dir, "fingerprint")
	fp, err := fingerprint(src.Dir, env)
	if err != nil {
		return nil, fmt.Errorf("build the slimage engine from %s: %w", engineDir, err)
	}
	e := &Engine{Path: bin, Source: src.String(), Version: src.Version}
	if old, err := os.ReadFile(stamp); err == nil && string(old) == fp {
		if _, err := os.Stat(bin); err == nil {
			return e, nil
		}
	}
	if err := checkGoForEngine(engineDir, env); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "engine: building %s\n", e.Source)
	if err := buildInto(ctx, dir, bin, engineDir, "./cmd/slimage-engine", "-mod=readonly"); err != nil {
		return nil, fmt.Errorf("build the slimage engine from %s: %w", engineDir, err)
	}
	if err := atomicfile.Write(stamp, []byte(fp), 0o644); err != nil {
		return nil, fmt.Errorf("build the slimage engine: %w", err)
	}
	e.Built = true
	return e, nil
}

// fingerprint hashes what the engine build depends on in a local folder:
// every file of the front and the engine except tests, testdata, dist and
// dot folders (the engine imports the front's packages), and the Go
// version that builds it.
func fingerprint(root string, env gotool.Env) (string, error) {
	h := sha256.New()
	// Not GOFLAGS: buildInto sets the engine's own.
	fmt.Fprintf(h, "%s %s/%s\n", env.GOVERSION, runtime.GOOS, runtime.GOARCH)
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || name == "dist" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		lines = append(lines, fmt.Sprintf("%s %d %d", filepath.ToSlash(rel), fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(h, l)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkGoForEngine says, before the go command does, when the engine needs a
// newer Go than the local one and GOTOOLCHAIN forbids fetching it.
func checkGoForEngine(engineDir string, env gotool.Env) error {
	gomod := filepath.Join(engineDir, "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil {
		return fmt.Errorf("build the slimage engine: %w", err)
	}
	f, err := modfile.ParseLax(gomod, data, nil)
	if err != nil || f.Go == nil {
		return nil // the go command will say what is wrong
	}
	return needGo("go"+f.Go.Version, engineDir, env)
}

func needGo(need, what string, env gotool.Env) error {
	local, tc := env.GOVERSION, env.GOTOOLCHAIN
	if !version.IsValid(local) || version.Compare(need, local) <= 0 || gotool.MayFetchToolchain(tc) {
		return nil
	}
	return fmt.Errorf("build the slimage engine %s: it needs %s but the local Go is %s and GOTOOLCHAIN=%s: install %s, or set GOTOOLCHAIN=auto to let the go command fetch it (your service's own go line is not changed)",
		what, need, local, tc, need)
}

// ensureModule builds the engine module at the front's version in a build
// module of its own, with the front replaced by that same version: the
// engine's go.mod may name an older front, but the front it links is
// always the one that runs it, so the two cannot skew.
func ensureModule(ctx context.Context, src Source, env gotool.Env, cache string, progress io.Writer) (*Engine, error) {
	escaped, err := module.EscapePath(src.Path)
	if err != nil {
		return nil, fmt.Errorf("build the slimage engine %s: %w", src, err)
	}
	dir := filepath.Join(cache, escaped+"@"+src.Version, runtime.GOOS+"_"+runtime.GOARCH)
	bin := filepath.Join(dir, exeName())
	e := &Engine{Path: bin, Source: src.String(), Version: src.Version}
	if _, err := os.Stat(bin); err == nil {
		return e, nil
	}
	fmt.Fprintf(progress, "engine: building %s\n", e.Source)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("build the slimage engine %s: %w", src, err)
	}
	work, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return nil, fmt.Errorf("build the slimage engine %s: %w", src, err)
	}
	defer os.RemoveAll(work)
	// The go line is the front's; go get raises it to what the engine needs.
	gomod := fmt.Sprintf("module slimage.local/engine-build\n\ngo 1.23.0\n\nreplace %s => %s %s\n", FrontPath, src.Path, src.Version)
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, fmt.Errorf("build the slimage engine %s: %w", src, err)
	}
	// A pseudo-version names a commit; the engine module's own pseudo-version
	// for it may differ (its tags have an images/ prefix), so ask by revision.
	query := src.Version
	if module.IsPseudoVersion(query) {
		if rev, err := module.PseudoVersionRev(query); err == nil {
			query = rev
		}
	}
	getEnv := []string{"GOFLAGS=-mod=mod", "GOWORK=off"}
	if _, err := gotool.Run(ctx, gotool.Cmd{Dir: work, Env: getEnv, Args: []string{"get", src.Path + "/images@" + query}}); err != nil {
		return nil, moduleBuildError(src, env, err)
	}
	if err := buildInto(ctx, dir, bin, work, src.Path+cmdPath, "-mod=mod"); err != nil {
		return nil, moduleBuildError(src, env, err)
	}
	e.Built = true
	return e, nil
}

var needsNewerGo = regexp.MustCompile(`requires go >= (\S+) \(running go (\S+); GOTOOLCHAIN=(\S+)\)`)

func moduleBuildError(src Source, env gotool.Env, err error) error {
	var exit *gotool.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("build the slimage engine %s: %w", src, err)
	}
	if m := needsNewerGo.FindStringSubmatch(exit.Stderr); m != nil {
		return needGo("go"+m[1], src.String(), gotool.Env{GOVERSION: "go" + m[2], GOTOOLCHAIN: m[3]})
	}
	if gotool.IsNetworkError(exit.Stderr) {
		return fmt.Errorf("build the slimage engine %s: download its modules: %s: check the network and GOPROXY (they are downloaded once per release: run 'mage deps' where the module proxy is reachable, then the other steps work offline)", src, gotool.NetworkCause(exit.Stderr))
	}
	return fmt.Errorf("build the slimage engine %s: %w: report it, with this line, as a slimage bug", src, err)
}

// buildInto builds pkg (in module folder modDir) to bin, through a temp
// file in bin's folder, so a failed or cancelled build leaves no half
// binary. -trimpath and CGO_ENABLED=0 are the flags slimage builds services
// with, so the engine shares the standard library's compiled packages with
// the service's build in the go build cache.
func buildInto(ctx context.Context, dir, bin, modDir, pkg, modFlag string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".engine-*")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if _, err := gotool.Run(ctx, gotool.Cmd{Dir: modDir, Env: []string{"CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=" + modFlag},
		Args: []string{"build", "-trimpath", "-o", tmp.Name(), pkg}}); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), bin)
}

// Run runs one engine step (image, verify, verify-image <ref>) with c as
// its configuration, the caller's environment and standard streams. A
// cancelled ctx (Ctrl-C in mage) reaches the engine as an interrupt, and
// Run waits for it to remove its containers and half-written folders. A
// failed step returns the engine's own one-line cause, which the engine
// prints as its last line on stderr after config.EngineErrorPrefix; that line is not
// passed on, since mage prints the error itself.
func (e *Engine) Run(ctx context.Context, c *config.Config, verbose bool, args ...string) error {
	doc, err := config.MarshalDocument(c, e.Version, verbose)
	if err != nil {
		return fmt.Errorf("run the slimage engine: %w", err)
	}
	stderr := &errorLine{dst: os.Stderr}
	cmd := exec.CommandContext(ctx, e.Path, args...)
	cmd.Env = append(os.Environ(), config.EngineConfigVar+"="+string(doc))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, stderr
	cmd.Cancel = func() error { return interrupt(cmd.Process) }
	// The engine's own clean-up (containers, temp folders) gets this long
	// after an interrupt before it is killed.
	cmd.WaitDelay = 60 * time.Second
	runErr := cmd.Run()
	stderr.flush()
	if stderr.cause != "" {
		return errors.New(stderr.cause)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && runErr != nil {
		return ctxErr
	}
	if runErr != nil {
		return fmt.Errorf("run the slimage engine %s %s: %v (it gave no cause): run with mage -v to see its output", e.Source, strings.Join(args, " "), runErr)
	}
	return nil
}

// errorLine passes the engine's stderr on, line by line, except the line
// that carries its cause, which it keeps.
type errorLine struct {
	dst   io.Writer
	buf   []byte
	cause string
}

func (w *errorLine) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := w.buf[:i+1]
		if cause, ok := strings.CutPrefix(string(line), config.EngineErrorPrefix); ok {
			w.cause = strings.TrimSpace(cause)
		} else if _, err := w.dst.Write(line); err != nil {
			return len(p), err
		}
		w.buf = w.buf[i+1:]
	}
}

func (w *errorLine) flush() {
	if len(w.buf) > 0 {
		w.Write([]byte("\n"))
	}
}

// interrupt asks the engine to stop as Ctrl-C would; where processes take
// no interrupt (Windows) it is killed.
func interrupt(p *os.Process) error {
	if err := p.Signal(os.Interrupt); err != nil {
		return p.Kill()
	}
	return nil
}
