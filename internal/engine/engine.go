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
	"github.com/slimage/slimage/internal/childproc"
	"github.com/slimage/slimage/internal/contract"
	"github.com/slimage/slimage/internal/gotool"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/progress"
)

const (
	// FrontPath is the importable module's path; the engine's is FrontPath+"/images".
	FrontPath = "github.com/slimage/slimage"
	cmdPath   = "/images/cmd/slimage-engine"
)

// Command is one of the engine module's commands that the front runs.
// Each is built on first use, so a step nobody runs costs no build.
type Command string

const (
	// Main runs image, verify and verify-image.
	Main Command = "slimage-engine"
	// Vulncheck runs vulncheck: golang.org/x/vuln and the parts of
	// golang.org/x/tools it needs (59 packages) are its alone, so a run
	// that never checks for vulnerabilities never compiles them.
	Vulncheck Command = "slimage-vulncheck"
	// Deploy reads the deployment's manifests with the Kubernetes API
	// types (k8s.io/api and what it needs: 72 packages, about half again
	// the engine's first build), so a run that names no manifests never
	// compiles them.
	Deploy Command = "slimage-deploy"
	// Sign signs what was pushed, with cosign's and sigstore's libraries
	// (several hundred packages), built only for a run that signs.
	Sign Command = "slimage-sign"
	// SignKMS is Sign with sigstore's KMS providers (AWS, Google Cloud,
	// Azure, Vault: 278 packages more, a third again Sign's first build),
	// built only for a key held in a KMS.
	SignKMS Command = "slimage-sign-kms"
)

func (c Command) exe() string {
	if runtime.GOOS == "windows" {
		return string(c) + ".exe"
	}
	return string(c)
}

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

// Ensure returns the engine command cmd for the running front, building it
// into the user cache when it is missing or, for a local folder, out of
// date; the build shows its progress on w (see package progress). env is
// the go command's environment (config.Resolve has read it already).
func Ensure(ctx context.Context, env gotool.Env, cmd Command, w io.Writer) (*Engine, error) {
	src, err := FindSource(ctx)
	if err != nil {
		return nil, err
	}
	cache, err := cacheDir()
	if err != nil {
		return nil, err
	}
	if src.Dir != "" {
		return ensureLocal(ctx, src, cmd, env, cache, w)
	}
	return ensureModule(ctx, src, cmd, env, cache, w)
}

func cacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the slimage engine: no user cache folder (%v): set HOME or XDG_CACHE_HOME", err)
	}
	return filepath.Join(dir, "slimage", "engine"), nil
}

// ensureLocal rebuilds the folder's command when a fingerprint of its files
// (names, sizes, modification times) and of the Go version changed; the
// check is a walk of a few hundred files, so an unchanged engine starts at
// once without asking the go command.
func ensureLocal(ctx context.Context, src Source, cmd Command, env gotool.Env, cache string, w io.Writer) (*Engine, error) {
	engineDir := filepath.Join(src.Dir, "images")
	key := sha256.Sum256([]byte(src.Dir))
	dir := filepath.Join(cache, "local-"+hex.EncodeToString(key[:6]))
	bin := filepath.Join(dir, cmd.exe())
	stamp := bin + ".fingerprint"
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
	mods, err := gotool.Requires(filepath.Join(engineDir, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("build the slimage engine from %s: %w", engineDir, err)
	}
	l := progress.Start(w, "engine "+e.Source)
	n, err := compile(ctx, l, gotool.Cmd{Dir: engineDir, Env: buildEnv("-mod=readonly")}, "./cmd/"+string(cmd), bin, mods, env.GOMODCACHE)
	if err != nil {
		l.End("")
		return nil, buildError(src, env, err)
	}
	if err := atomicfile.Write(stamp, []byte(fp), 0o644); err != nil {
		l.End("")
		return nil, fmt.Errorf("build the slimage engine: %w", err)
	}
	l.End(built(e, cmd, l, n))
	e.Built = true
	return e, nil
}

// built is the line that says a command was built, and what it took.
func built(e *Engine, cmd Command, l *progress.Line, packages int) string {
	return fmt.Sprintf("engine %s: built %s in %s (%d package%s compiled)", e.Source, cmd, progress.Seconds(l.Elapsed()), packages, human.Plural(packages))
}

// fingerprint hashes what the engine build depends on in a local folder:
// every file of the front and the engine (the engine imports the front's
// packages) except tests, testdata, dist and dot folders, and what no
// package builds from (the manual, this repository's magefile and
// benchmark), and the Go version that builds it.
func fingerprint(root string, env gotool.Env) (string, error) {
	h := sha256.New()
	// Not GOFLAGS: buildEnv sets the engine's own.
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
			if filepath.Dir(p) == root && (name == "docs" || name == "magefiles" || name == "bench") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, ".md") || !d.Type().IsRegular() {
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
// always the one that runs it, so the two cannot skew. A second service on
// the machine that imports the same release finds it built.
func ensureModule(ctx context.Context, src Source, cmd Command, env gotool.Env, cache string, w io.Writer) (*Engine, error) {
	escaped, err := module.EscapePath(src.Path)
	if err != nil {
		return nil, fmt.Errorf("build the slimage engine %s: %w", src, err)
	}
	dir := filepath.Join(cache, escaped+"@"+src.Version, runtime.GOOS+"_"+runtime.GOARCH)
	bin := filepath.Join(dir, cmd.exe())
	e := &Engine{Path: bin, Source: src.String(), Version: src.Version}
	if _, err := os.Stat(bin); err == nil {
		return e, nil
	}
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
	l := progress.Start(w, "engine "+e.Source)
	resolving, fetched := "resolving "+src.Path+"/images@"+query, 0
	l.Set(resolving, -1, 0)
	get := gotool.Cmd{Dir: work, Env: []string{"GOFLAGS=-mod=mod", "GOWORK=off"}, Args: []string{"get", src.Path + "/images@" + query},
		OnLine: func(line string) {
			if strings.HasPrefix(line, "go: downloading ") {
				fetched++
				l.Set(resolving, fetched, 0)
			}
		}}
	if _, err := gotool.Run(ctx, get); err != nil {
		l.End("")
		return nil, buildError(src, env, err)
	}
	mods, err := gotool.Requires(filepath.Join(work, "go.mod"))
	if err != nil {
		l.End("")
		return nil, fmt.Errorf("build the slimage engine %s: %w", src, err)
	}
	n, err := compile(ctx, l, gotool.Cmd{Dir: work, Env: buildEnv("-mod=mod")}, src.Path+"/images/cmd/"+string(cmd), bin, mods, env.GOMODCACHE)
	if err != nil {
		l.End("")
		return nil, buildError(src, env, err)
	}
	l.End(built(e, cmd, l, n))
	e.Built = true
	return e, nil
}

// buildEnv is the engine build's environment. -trimpath and CGO_ENABLED=0
// are the flags slimage builds services with, so the engine shares the
// standard library's compiled packages with the service's build in the go
// build cache; the user's GOFLAGS are not the engine's.
func buildEnv(modFlag string) []string {
	return []string{"CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=" + modFlag}
}

var engineFlags = []string{"-trimpath"}

// compile builds pkg (in the module folder of c) to bin, showing on l the
// modules it downloads (of up to mods, those not yet in the module cache)
// and the packages it compiles; it returns how many it compiled. The
// binary is written to a temp file beside bin and renamed over it, so a
// failed or cancelled build leaves no half binary.
func compile(ctx context.Context, l *progress.Line, c gotool.Cmd, pkg, bin string, mods []module.Version, modcache string) (int, error) {
	missing, fetched := len(mods)-gotool.Downloaded(modcache, mods), 0
	if missing > 0 {
		l.SetUpTo(gotool.PhaseDownload, 0, missing)
	}
	stale, err := gotool.Stale(ctx, c, engineFlags, []string{pkg}, func() {
		fetched++
		l.SetUpTo(gotool.PhaseDownload, fetched, max(missing, fetched))
	})
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(dir, ".engine-*")
	if err != nil {
		return 0, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if _, err := gotool.Build(ctx, c, tmp.Name(), engineFlags, []string{pkg}, stale, l); err != nil {
		return 0, err
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return 0, err
	}
	return stale, os.Rename(tmp.Name(), bin)
}

var needsNewerGo = regexp.MustCompile(`requires go >= (\S+) \(running go (\S+); GOTOOLCHAIN=(\S+)\)`)

// buildError explains a failed engine build by what the go command said:
// a Go too old, a toolchain, module or proxy it could not fetch (the
// network, or a GOPROXY that does not serve the engine's modules), or a
// compile error (in a local folder: your edit; in a release: a bug).
func buildError(src Source, env gotool.Env, err error) error {
	what := "build the slimage engine " + src.String()
	if src.Dir != "" {
		what = "build the slimage engine from " + filepath.Join(src.Dir, "images")
	}
	var exit *gotool.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("%s: %w", what, err)
	}
	if m := needsNewerGo.FindStringSubmatch(exit.Stderr); m != nil {
		return needGo("go"+m[1], src.String(), gotool.Env{GOVERSION: "go" + m[2], GOTOOLCHAIN: m[3]})
	}
	cause := gotool.Cause(exit.Stderr)
	offline := "its modules are downloaded once per release: run 'mage deps' where the module proxy is reachable, then the other steps work offline"
	switch {
	case strings.Contains(cause, "toolchain not available") || toolchainDownload.MatchString(cause):
		return fmt.Errorf("%s: %s: the engine needs a newer Go than this one and the go command could not fetch it: install it, or check GOPROXY and the network", what, cause)
	case gotool.IsNetworkError(exit.Stderr):
		return fmt.Errorf("%s: %s: check the network and GOPROXY (%s)", what, cause, offline)
	case strings.HasPrefix(cause, "download "):
		return fmt.Errorf("%s: %s: check GOPROXY: it must serve the engine's modules, or end in a proxy that does (%s)", what, cause, offline)
	case src.Dir != "":
		return fmt.Errorf("%s: %s", what, cause)
	}
	return fmt.Errorf("%s: %s: report it, with this line, as a slimage bug", what, cause)
}

var toolchainDownload = regexp.MustCompile(`^download go\d`)

// RunOptions are how a step runs, beyond its configuration.
type RunOptions struct {
	Verbose bool // mage -v: the engine prints its progress and the daemon's output
	// Hold is a file the engine keeps open while it runs: the output
	// folder's lock (distlock.Lock.File), so that the lock outlasts a
	// front that was killed while its engine still cleans up.
	Hold *os.File
	// Stdout and Stderr take the engine's output; nil: this process's.
	Stdout, Stderr io.Writer
}

// CleanupDelay is how long the engine has, after an interrupt, to remove
// its containers and half-written folders before it is killed.
const CleanupDelay = 60 * time.Second

// Run runs one engine step (image, verify, verify-image <ref>) with c as
// its configuration, the caller's environment and standard streams. A
// cancelled ctx (Ctrl-C in mage) reaches the engine as an interrupt, and
// Run waits for it to remove its containers and half-written folders; the
// engine is interrupted as well when this process dies (see package
// childproc; the engine also watches for it). A failed step returns the
// engine's own one-line cause, which the engine prints as its last line on
// stderr after contract.EngineErrorPrefix; that line is not passed on, since
// mage prints the error itself.
func (e *Engine) Run(ctx context.Context, c *config.Config, opts RunOptions, args ...string) error {
	doc, err := contract.MarshalDocument(c, e.Version, opts.Verbose)
	if err != nil {
		return fmt.Errorf("run the slimage engine: %w", err)
	}
	stdout, errOut := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if errOut == nil {
		errOut = os.Stderr
	}
	stderr := &errorLine{dst: errOut}
	cmd := exec.CommandContext(ctx, e.Path, args...)
	cmd.Env = append(os.Environ(), contract.EngineConfigVar+"="+string(doc))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	if opts.Hold != nil {
		cmd.ExtraFiles = []*os.File{opts.Hold}
	}
	childproc.Stoppable(cmd, CleanupDelay)
	runErr := cmd.Run()
	stderr.flush()
	if stderr.cause != "" {
		return errors.New(stderr.cause)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && runErr != nil {
		return fmt.Errorf("%s: interrupted", strings.Join(args, " "))
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
		if cause, ok := strings.CutPrefix(string(line), contract.EngineErrorPrefix); ok {
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
