// Package config is slimage's one configuration value: defaults derived
// from the module's go.mod, then SLIMAGE_* environment variables, then Go
// code in an importing magefile. The user's word always wins over a default.
package config

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"go/version"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/slimage/slimage/internal/gotool"
	"github.com/slimage/slimage/internal/zoneinfo"
)

// Config says what to build and where. Fields left empty are derived by
// Resolve; fields a user set are only checked.
type Config struct {
	Dir        string     // SLIMAGE_DIR: the module's root (holds go.mod)
	Main       string     // SLIMAGE_MAIN: main package, "./cmd/api" or an import path
	Binary     string     // SLIMAGE_BINARY: executable name
	Platforms  []Platform // SLIMAGE_PLATFORMS: comma list of os/arch[/variant]
	Dist       string     // SLIMAGE_DIST: output folder
	Version    string     // SLIMAGE_VERSION: stamped into the binary
	VersionVar string     // SLIMAGE_VERSION_VAR: -X targets, "main.version" or "main.commit={{commit}},…" (see Stamps); "" stamps nothing
	// SLIMAGE_CGO_DROPPED: what a linked package built without its cgo
	// files does to the build: warn (a note; a known stub still fails),
	// fail, or allow.
	CgoDropped string
	// SLIMAGE_DEPS_VERIFY: full (go mod verify re-hashes every module) or
	// fast (only module folders changed since slimage last verified them);
	// "" is full under CI=true, else fast.
	DepsVerify string

	Image string // SLIMAGE_IMAGE: reference to tag, default <binary>:<version>
	TZ    string // SLIMAGE_TZ: IANA zone baked into the image
	// SLIMAGE_ZONES: more zones the service loads with time.LoadLocation,
	// comma-separated, each copied beside TZ's; or "all": the Go
	// toolchain's whole zoneinfo.zip, with ZONEINFO pointing at it.
	Zones    []string
	CABundle string   // SLIMAGE_CA_BUNDLE: the image's CA bundle; "" finds the host's
	ExtraCA  []string // SLIMAGE_EXTRA_CA: PEM files appended to the bundle (":"-separated)
	// SLIMAGE_CA_STRICT: an expired certificate, or one that is not a CA,
	// in SLIMAGE_CA_BUNDLE or SLIMAGE_EXTRA_CA fails the check (it is
	// reported either way).
	CAStrict bool
	User     string   // SLIMAGE_USER: nonroot (65532:65532), root, or uid:gid
	Ports    []string // SLIMAGE_PORTS: exposed ports, "8080" or "53/udp"
	Args     []string // SLIMAGE_ARGS: default arguments (CMD), space-separated
	Files    []string // SLIMAGE_FILES: run-time files, "src:dst" (src in the module, dst absolute)
	// SLIMAGE_LABELS: more image labels, comma-separated key=value. A key
	// slimage sets itself (SlimageLabels) is refused there; key:=value (or
	// LabelOverrides) says that yours wins.
	Labels         map[string]string
	LabelOverrides map[string]string
	Builder        string // SLIMAGE_BUILDER: oci (the default) or docker; "" chooses (see Resolve)
	// SLIMAGE_DOCKERFILE_MODE: host (the binary is built here and copied in)
	// or multistage (a self-contained Dockerfile that builds inside Docker).
	DockerfileMode string
	GoImage        string // SLIMAGE_GO_IMAGE: the multistage builder image, default golang:<go.mod version>
	DockerfileOut  string // SLIMAGE_DOCKERFILE_OUT: where the multistage Dockerfile goes, relative to the module
	Push           string // SLIMAGE_PUSH: registry/repo[:tag] the OCI index is pushed to

	VerifyTLS      string        // SLIMAGE_VERIFY_TLS: comma list of https:// URLs; "" the default endpoint; "off" none
	VerifyHealth   string        // SLIMAGE_VERIFY_HEALTH: HTTP path that must answer 2xx, "/readyz" or "9898:/readyz"
	VerifyTimeout  time.Duration // SLIMAGE_VERIFY_TIMEOUT: how long the service may take to answer
	VerifyGrace    time.Duration // SLIMAGE_VERIFY_GRACE: how long a service without ports must stay up
	VerifyMinRoots int           // SLIMAGE_VERIFY_MIN_ROOTS: fewest roots a bundle may hold
	VerifySettle   time.Duration // SLIMAGE_VERIFY_SETTLE: how long the service must stay up once it answers
	VerifyStop     time.Duration // SLIMAGE_VERIFY_STOP: how long it may take to exit on SIGTERM
	VerifyNonroot  bool          // SLIMAGE_VERIFY_NONROOT: verifyImage fails an image that runs as root
	// SLIMAGE_VERIFY_LABELS: labels put on every container verify starts,
	// comma-separated key=value (a CI job's ID, to find or remove them).
	VerifyLabels map[string]string

	VulnDB    string   // SLIMAGE_VULN_DB: the vulnerability database's URL (https://, or file:// for a local copy); "" the Go team's
	VulnAllow []string // SLIMAGE_VULN_ALLOW: advisory IDs vulncheck reports but does not fail on, comma-separated

	// ModuleGoEnv (Go code only) is KEY=value pairs that the module's own
	// go commands (deps and build) get on top of the environment, such as
	// a GOPROXY that serves this module's dependencies alone. No other go
	// command gets them: the engine's build runs with the user's own.
	ModuleGoEnv []string

	// Filled by Resolve from go.mod, git and the go command; not settings.
	Git      Git // the checkout's facts, read once for the image's labels
	Module   Module
	Vendor   bool // vendor/modules.txt exists: build with -mod=vendor
	GoEnv    gotool.Env
	resolved bool
}

// Module is what go.mod says about the module being built.
type Module struct {
	Path      string // module path
	GoMod     string // absolute path of go.mod
	Go        string // the go line
	Toolchain string // the toolchain line, if any
	Requires  int    // number of require lines
	// Replaces are the folders that replace directives point at (absolute):
	// their files are part of the build like the module's own.
	Replaces []string
}

// Git is what the module's checkout says of the commit being built; empty
// outside a git repository.
type Git struct {
	Revision   string // the commit (git rev-parse HEAD)
	CommitTime int64  // its committer time, Unix seconds
	Origin     string // remote.origin.url
}

// Default returns the settings that need no module to derive.
func Default() *Config {
	return &Config{Dir: ".", Dist: "dist", VersionVar: "main.version", CgoDropped: "warn", TZ: "Asia/Shanghai", User: "nonroot", DockerfileMode: "host",
		VerifyTimeout: 30 * time.Second, VerifyGrace: 2 * time.Second, VerifyMinRoots: 50,
		VerifySettle: 2 * time.Second, VerifyStop: 10 * time.Second}
}

// envVars names every variable ApplyEnv reads, in the order documented.
var envVars = []string{"SLIMAGE_DIR", "SLIMAGE_MAIN", "SLIMAGE_BINARY", "SLIMAGE_PLATFORMS",
	"SLIMAGE_DIST", "SLIMAGE_VERSION", "SLIMAGE_VERSION_VAR", "SLIMAGE_CGO_DROPPED", "SLIMAGE_DEPS_VERIFY", "SLIMAGE_IMAGE", "SLIMAGE_TZ",
	"SLIMAGE_ZONES", "SLIMAGE_CA_BUNDLE", "SLIMAGE_EXTRA_CA", "SLIMAGE_CA_STRICT", "SLIMAGE_USER", "SLIMAGE_PORTS", "SLIMAGE_ARGS", "SLIMAGE_FILES",
	"SLIMAGE_LABELS", "SLIMAGE_BUILDER", "SLIMAGE_PUSH", "SLIMAGE_DOCKERFILE_MODE", "SLIMAGE_GO_IMAGE", "SLIMAGE_DOCKERFILE_OUT",
	"SLIMAGE_VERIFY_TLS", "SLIMAGE_VERIFY_HEALTH", "SLIMAGE_VERIFY_TIMEOUT", "SLIMAGE_VERIFY_GRACE", "SLIMAGE_VERIFY_MIN_ROOTS",
	"SLIMAGE_VERIFY_SETTLE", "SLIMAGE_VERIFY_STOP", "SLIMAGE_VERIFY_NONROOT", "SLIMAGE_VERIFY_LABELS", "SLIMAGE_VULN_DB", "SLIMAGE_VULN_ALLOW"}

// EnvNames lists every SLIMAGE_* variable ApplyEnv reads, in the order the
// manual (docs/configuration.md) documents them.
func EnvNames() []string { return slices.Clone(envVars) }

// emptyMeans are the variables for which "" is a value, not unset:
// SLIMAGE_VERSION_VAR= stamps no version, SLIMAGE_TZ= bakes in no zone.
var emptyMeans = map[string]bool{"SLIMAGE_VERSION_VAR": true, "SLIMAGE_TZ": true}

// ApplyEnv overrides c with the SLIMAGE_* variables that lookup finds
// (os.LookupEnv in real use). A variable set to "" counts only where
// emptyMeans says what it means.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	for _, name := range envVars {
		v, ok := lookup(name)
		if !ok || (v == "" && !emptyMeans[name]) {
			continue
		}
		switch name {
		case "SLIMAGE_DIR":
			c.Dir = v
		case "SLIMAGE_MAIN":
			c.Main = v
		case "SLIMAGE_BINARY":
			c.Binary = v
		case "SLIMAGE_PLATFORMS":
			ps, err := ParsePlatforms(v)
			if err != nil {
				return fmt.Errorf("read SLIMAGE_PLATFORMS: %w", err)
			}
			c.Platforms = ps
		case "SLIMAGE_DIST":
			c.Dist = v
		case "SLIMAGE_VERSION":
			c.Version = v
		case "SLIMAGE_VERSION_VAR":
			c.VersionVar = v
		case "SLIMAGE_CGO_DROPPED":
			c.CgoDropped = v
		case "SLIMAGE_DEPS_VERIFY":
			c.DepsVerify = v
		case "SLIMAGE_IMAGE":
			c.Image = v
		case "SLIMAGE_TZ":
			c.TZ = v
		case "SLIMAGE_ZONES":
			c.Zones = splitList(v, ",")
		case "SLIMAGE_CA_BUNDLE":
			c.CABundle = v
		case "SLIMAGE_EXTRA_CA":
			c.ExtraCA = splitList(v, ":")
		case "SLIMAGE_USER":
			c.User = v
		case "SLIMAGE_PORTS":
			c.Ports = splitList(v, ",")
		case "SLIMAGE_ARGS":
			c.Args = strings.Fields(v)
		case "SLIMAGE_FILES":
			c.Files = splitList(v, ",")
		case "SLIMAGE_LABELS":
			if err := c.parseLabels(v); err != nil {
				return err
			}
		case "SLIMAGE_BUILDER":
			c.Builder = v
		case "SLIMAGE_PUSH":
			c.Push = v
		case "SLIMAGE_DOCKERFILE_MODE":
			c.DockerfileMode = v
		case "SLIMAGE_GO_IMAGE":
			c.GoImage = v
		case "SLIMAGE_DOCKERFILE_OUT":
			c.DockerfileOut = v
		case "SLIMAGE_VERIFY_TLS":
			c.VerifyTLS = v
		case "SLIMAGE_VERIFY_HEALTH":
			c.VerifyHealth = v
		case "SLIMAGE_VERIFY_TIMEOUT", "SLIMAGE_VERIFY_GRACE", "SLIMAGE_VERIFY_SETTLE", "SLIMAGE_VERIFY_STOP":
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("read %s: %q is not a duration: write e.g. 30s, 2m or 500ms", name, v)
			}
			if d <= 0 {
				return fmt.Errorf("read %s: %q is not a positive duration: write e.g. 30s, 2m or 500ms", name, v)
			}
			*map[string]*time.Duration{"SLIMAGE_VERIFY_TIMEOUT": &c.VerifyTimeout, "SLIMAGE_VERIFY_GRACE": &c.VerifyGrace,
				"SLIMAGE_VERIFY_SETTLE": &c.VerifySettle, "SLIMAGE_VERIFY_STOP": &c.VerifyStop}[name] = d
		case "SLIMAGE_VULN_DB":
			c.VulnDB = v
		case "SLIMAGE_VULN_ALLOW":
			c.VulnAllow = splitList(v, ",")
		case "SLIMAGE_VERIFY_NONROOT", "SLIMAGE_CA_STRICT":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("read %s: %q is not true or false", name, v)
			}
			*map[string]*bool{"SLIMAGE_VERIFY_NONROOT": &c.VerifyNonroot, "SLIMAGE_CA_STRICT": &c.CAStrict}[name] = b
		case "SLIMAGE_VERIFY_LABELS":
			labels, err := parseKeyValues("SLIMAGE_VERIFY_LABELS", v)
			if err != nil {
				return err
			}
			c.VerifyLabels = labels
		case "SLIMAGE_VERIFY_MIN_ROOTS":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("read SLIMAGE_VERIFY_MIN_ROOTS: %q is not a count: write e.g. 50", v)
			}
			c.VerifyMinRoots = n
		}
	}
	return nil
}

// Resolve derives what is left empty from go.mod and the go command, then
// checks everything, so no work starts on a configuration that cannot
// succeed. Each error names the setting at fault and how to fix it.
func (c *Config) Resolve(ctx context.Context) error {
	if c.resolved {
		return nil
	}
	// git answers while the go command starts: a no-op build waits for
	// neither twice.
	type gitFacts struct {
		Git
		describe string
	}
	git := make(chan gitFacts, 1)
	go func(dir string, describe bool) {
		g, d := readGit(ctx, dir, describe)
		git <- gitFacts{g, d}
	}(c.Dir, c.Version == "")
	env, err := gotool.ReadEnv(ctx)
	if err != nil {
		return fmt.Errorf("read go env: %w", err)
	}
	c.GoEnv = env
	if err := c.readModule(); err != nil {
		return err
	}
	if err := c.checkGoVersion(); err != nil {
		return err
	}
	_, err = os.Stat(filepath.Join(c.Dir, "vendor", "modules.txt"))
	c.Vendor = err == nil
	if err := c.resolveMain(); err != nil {
		return err
	}
	if c.Binary == "" {
		c.Binary = binaryName(c.Module.Path, c.Main)
	}
	if strings.ContainsAny(c.Binary, `/\`) || c.Binary == "." || c.Binary == ".." {
		return fmt.Errorf("check SLIMAGE_BINARY: %q is not a file name: give a plain name such as %q", c.Binary, path.Base(c.Binary))
	}
	if len(c.Platforms) == 0 {
		// The host's own platform needs no check (and no go tool dist list).
		c.Platforms = []Platform{{OS: "linux", Arch: env.GOHOSTARCH}}
	} else if err := validatePlatforms(ctx, c.Platforms); err != nil {
		return err
	}
	if c.Dist == "" {
		return errors.New("check SLIMAGE_DIST: empty: name an output folder such as dist")
	}
	if c.Dist, err = filepath.Abs(c.Dist); err != nil {
		return fmt.Errorf("check SLIMAGE_DIST: %w", err)
	}
	if err := c.checkBuildOutputs(); err != nil {
		return fmt.Errorf("check SLIMAGE_DIST: %w", err)
	}
	if _, err := c.Stamps(); err != nil {
		return err
	}
	facts := <-git
	c.Git = facts.Git
	if c.Version == "" {
		c.Version = facts.describe
	}
	if err := c.resolveDepsVerify(isCI()); err != nil {
		return err
	}
	switch c.CgoDropped {
	case "warn", "fail", "allow":
	default:
		return fmt.Errorf("check SLIMAGE_CGO_DROPPED: %q is not warn, fail or allow", c.CgoDropped)
	}
	if strings.ContainsAny(c.Version, " \t\n'\"") {
		return fmt.Errorf("check SLIMAGE_VERSION: %q has spaces or quotes: use a tag-like value such as v1.2.3", c.Version)
	}
	return c.resolveImage()
}

// isCI reads CI as CI systems set it (true, or 1).
func isCI() bool { v := os.Getenv("CI"); return v != "" && v != "false" && v != "0" }

// resolveDepsVerify chooses how deps checks the module cache: CI runners
// start from a fresh cache, so they get the full check unless told.
func (c *Config) resolveDepsVerify(ci bool) error {
	switch c.DepsVerify {
	case "":
		c.DepsVerify = "fast"
		if ci {
			c.DepsVerify = "full"
		}
	case "full", "fast":
	default:
		return fmt.Errorf("check SLIMAGE_DEPS_VERIFY: %q is not full or fast", c.DepsVerify)
	}
	return nil
}

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

// resolveMain finds or checks the main package. Without a choice it is the
// module root when that is a main package, else the one main package under
// cmd/; anything else is ambiguous and the error lists what it found.
func (c *Config) resolveMain() error {
	if err := c.findMain(); err != nil {
		return err
	}
	// A main package whose files all import C builds only with cgo.
	if _, err := packageName(filepath.Join(c.Dir, filepath.FromSlash(c.Main))); errors.Is(err, errNeedsCgo) {
		return fmt.Errorf("check SLIMAGE_MAIN: %s needs cgo (its Go files import C): slimage builds with CGO_ENABLED=0 for a static binary: move the C parts behind a cgo build tag with a pure-Go fallback, or build it elsewhere", c.Main)
	}
	return nil
}

// findMain is resolveMain's search.
func (c *Config) findMain() error {
	if c.Main != "" {
		rel, err := c.relPackage(c.Main)
		if err != nil {
			return err
		}
		name, err := packageName(filepath.Join(c.Dir, rel))
		if err != nil && !errors.Is(err, errNeedsCgo) {
			return fmt.Errorf("check SLIMAGE_MAIN: %s: %w: name a folder of module %s that holds package main", c.Main, err, c.Module.Path)
		}
		if name != "main" {
			return fmt.Errorf("check SLIMAGE_MAIN: %s is package %s, not a main package: name the folder of a command (package main)", c.Main, name)
		}
		c.Main = rel
		return nil
	}
	if name, _ := packageName(c.Dir); name == "main" {
		c.Main = "."
		return nil
	}
	cmds, _ := filepath.Glob(filepath.Join(c.Dir, "cmd", "*"))
	var found []string
	for _, d := range cmds {
		if name, _ := packageName(d); name == "main" {
			found = append(found, "./cmd/"+filepath.Base(d))
		}
	}
	if len(found) == 1 {
		c.Main = found[0]
		return nil
	}
	if len(found) == 0 {
		found = c.findMains()
	}
	switch len(found) {
	case 0:
		return fmt.Errorf("check SLIMAGE_MAIN: module %s has no main package: add one (package main at the root or in cmd/<name>), or set SLIMAGE_MAIN", c.Module.Path)
	case 1:
		return fmt.Errorf("check SLIMAGE_MAIN: module %s has no main package at its root or in cmd/, only %s: set SLIMAGE_MAIN=%s", c.Module.Path, found[0], found[0])
	default:
		return fmt.Errorf("check SLIMAGE_MAIN: module %s has %d main packages (%s): set SLIMAGE_MAIN to one of them", c.Module.Path, len(found), strings.Join(found, ", "))
	}
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

// findMains walks the module for main packages, skipping what the go tool
// skips (testdata, vendor, _ and . folders) and nested modules.
func (c *Config) findMains() []string {
	var found []string
	_ = filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != c.Dir {
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
			found = append(found, "./"+filepath.ToSlash(rel))
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

// readGit reads the commit and its time, the origin and, when describe is
// set, `git describe --tags --always --dirty` for the version ("dev" where
// there is none), all at once; outside git (or without git) the facts are
// empty.
func readGit(ctx context.Context, dir string, describe bool) (g Git, version string) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if f := strings.Fields(gitOutput(ctx, dir, "log", "-1", "--format=%H %ct")); len(f) == 2 {
			g.Revision = f[0]
			g.CommitTime, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}()
	go func() {
		defer wg.Done()
		g.Origin = gitOutput(ctx, dir, "config", "--get", "remote.origin.url")
	}()
	if describe {
		if version = gitOutput(ctx, dir, "describe", "--tags", "--always", "--dirty"); version == "" {
			version = "dev"
		}
	}
	wg.Wait()
	return g, version
}

func gitOutput(ctx context.Context, dir string, args ...string) string {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// String prints the effective configuration, one setting a line, for mage -v.
func (c *Config) String() string {
	var b strings.Builder
	row := func(name, val, note string) {
		fmt.Fprintf(&b, "  %-24s %s", name, val)
		if note != "" {
			fmt.Fprintf(&b, "  (%s)", note)
		}
		b.WriteByte('\n')
	}
	b.WriteString("slimage configuration:\n")
	row("SLIMAGE_DIR", c.Dir, "module "+c.Module.Path+", go "+c.Module.Go+optional(", toolchain ", c.Module.Toolchain))
	row("SLIMAGE_MAIN", c.Main, "")
	row("SLIMAGE_BINARY", c.Binary, "")
	row("SLIMAGE_PLATFORMS", platformList(c.Platforms), "")
	row("SLIMAGE_DIST", c.Dist, "")
	row("SLIMAGE_VERSION", c.Version, "")
	stamp := ""
	if c.VersionVar == "" {
		stamp = "no version stamp"
	}
	row("SLIMAGE_VERSION_VAR", c.VersionVar, stamp)
	row("SLIMAGE_CGO_DROPPED", c.CgoDropped, "")
	row("SLIMAGE_DEPS_VERIFY", c.DepsVerify, "")
	goNote := "GOTOOLCHAIN=" + c.GoEnv.GOTOOLCHAIN + optional(", GOFLAGS=", c.GoEnv.GOFLAGS)
	if c.Vendor {
		goNote += ", vendor/ found: -mod=vendor"
	}
	if len(c.ModuleGoEnv) > 0 {
		goNote += ", the module's go commands also get " + strings.Join(c.ModuleGoEnv, " ")
	}
	row("go", c.GoEnv.GOVERSION, goNote)
	row("SLIMAGE_IMAGE", c.Image, "")
	row("SLIMAGE_TZ", c.TZ, "")
	row("SLIMAGE_ZONES", strings.Join(c.Zones, ","), "")
	row("SLIMAGE_CA_BUNDLE", c.CABundle, "")
	row("SLIMAGE_EXTRA_CA", strings.Join(c.ExtraCA, ":"), "")
	row("SLIMAGE_CA_STRICT", strconv.FormatBool(c.CAStrict), "")
	row("SLIMAGE_USER", c.User, "")
	row("SLIMAGE_PORTS", strings.Join(c.Ports, ","), "")
	row("SLIMAGE_ARGS", strings.Join(c.Args, " "), "")
	row("SLIMAGE_FILES", strings.Join(c.Files, ","), "")
	row("SLIMAGE_LABELS", strings.Trim(labelList(c.Labels, "=")+","+labelList(c.LabelOverrides, ":="), ","), "")
	row("SLIMAGE_BUILDER", c.Builder, "")
	row("SLIMAGE_PUSH", c.Push, "")
	row("SLIMAGE_DOCKERFILE_MODE", c.DockerfileMode, "")
	row("SLIMAGE_GO_IMAGE", c.GoImage, "")
	row("SLIMAGE_DOCKERFILE_OUT", c.DockerfileOut, "")
	row("SLIMAGE_VERIFY_TLS", c.VerifyTLS, "")
	row("SLIMAGE_VERIFY_HEALTH", c.VerifyHealth, "")
	row("SLIMAGE_VERIFY_TIMEOUT", c.VerifyTimeout.String(), "")
	row("SLIMAGE_VERIFY_GRACE", c.VerifyGrace.String(), "")
	row("SLIMAGE_VERIFY_MIN_ROOTS", strconv.Itoa(c.VerifyMinRoots), "")
	row("SLIMAGE_VERIFY_SETTLE", c.VerifySettle.String(), "")
	row("SLIMAGE_VERIFY_STOP", c.VerifyStop.String(), "")
	row("SLIMAGE_VERIFY_NONROOT", strconv.FormatBool(c.VerifyNonroot), "")
	row("SLIMAGE_VERIFY_LABELS", labelList(c.VerifyLabels, "="), "")
	row("SLIMAGE_VULN_DB", c.VulnDB, "")
	row("SLIMAGE_VULN_ALLOW", strings.Join(c.VulnAllow, ","), "")
	return b.String()
}

func optional(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}

// Load builds the effective configuration: LoadSettings, then Resolve for
// whatever is still empty.
func Load(ctx context.Context, defaults, overrides []func(*Config), lookup func(string) (string, bool)) (*Config, error) {
	c, err := LoadSettings(defaults, overrides, lookup)
	if err != nil {
		return nil, err
	}
	if err := c.Resolve(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadSettings applies Default, then each of defaults, then the environment
// as lookup reports it (os.LookupEnv in real use), then each of overrides.
// It needs no Go module: verifying an image built elsewhere starts here.
func LoadSettings(defaults, overrides []func(*Config), lookup func(string) (string, bool)) (*Config, error) {
	c := Default()
	for _, fn := range defaults {
		fn(c)
	}
	if err := c.ApplyEnv(lookup); err != nil {
		return nil, err
	}
	for _, fn := range overrides {
		fn(c)
	}
	if err := c.checkVerify(); err != nil {
		return nil, err
	}
	return c, nil
}

func validatePlatforms(ctx context.Context, ps []Platform) error {
	for _, p := range ps {
		if err := p.validate(ctx); err != nil {
			return fmt.Errorf("check SLIMAGE_PLATFORMS: %w", err)
		}
	}
	return nil
}

// resolveImage checks the image settings that need no files; the files
// they name are checked by CheckImageInputs, before the image's first work.
func (c *Config) resolveImage() error {
	if c.Image == "" {
		c.Image = c.Binary + ":" + tagFrom(c.Version)
	}
	ref, err := ParseImageRef(c.Image)
	if err != nil {
		return fmt.Errorf("check SLIMAGE_IMAGE: %q is not an image reference (%v): write name[:tag], lower case, e.g. %s:v1.2.3", c.Image, err, c.Binary)
	}
	if ref.Digest != "" {
		return fmt.Errorf("check SLIMAGE_IMAGE: %q has a digest: a build can only be tagged, write name:tag", c.Image)
	}
	if ref.Tag == "" {
		c.Image += ":" + tagFrom(c.Version)
	}
	switch c.User {
	case "nonroot", "":
		c.User = "65532:65532"
	case "root":
		c.User = "0:0"
	}
	if err := c.checkUser(); err != nil {
		return err
	}
	if err := c.checkPorts(); err != nil {
		return err
	}
	for _, f := range c.Files {
		src, dst, ok := strings.Cut(f, ":")
		if !ok || src == "" || !strings.HasPrefix(dst, "/") {
			return fmt.Errorf("check SLIMAGE_FILES: %q is not src:dst: write e.g. conf.yaml:/app/conf.yaml (src in the module, dst absolute in the image)", f)
		}
	}
	if err := c.checkLabels(); err != nil {
		return err
	}
	if err := c.resolveBuilder(); err != nil {
		return err
	}
	if err := c.resolveMultistage(); err != nil {
		return err
	}
	if c.Push != "" {
		if _, err := ParseImageRef(c.Push); err != nil {
			return fmt.Errorf("check SLIMAGE_PUSH: %q is not a registry/repository[:tag] (%v)", c.Push, err)
		}
	}
	if c.TZ != "" {
		if strings.HasPrefix(c.TZ, "/") || strings.Contains(c.TZ, "..") {
			return fmt.Errorf("check SLIMAGE_TZ: %q is not an IANA zone name: write e.g. Asia/Shanghai", c.TZ)
		}
		// Checked here, once, so a misspelt zone stops the run before the build.
		if _, err := zoneinfo.Read(c.GoEnv.GOROOT, c.TZ); err != nil {
			return fmt.Errorf("check SLIMAGE_TZ: %v", err)
		}
	}
	if !c.AllZones() {
		for _, z := range c.Zones {
			if _, err := zoneinfo.Read(c.GoEnv.GOROOT, z); err != nil {
				return fmt.Errorf("check SLIMAGE_ZONES: %v", err)
			}
		}
	}
	if err := c.checkVerify(); err != nil {
		return err
	}
	c.resolved = true
	return nil
}

// HostPlatform is the platform the go command runs on, which Docker's
// legacy builder can build.
func (c *Config) HostPlatform() Platform { return Platform{OS: "linux", Arch: c.GoEnv.GOHOSTARCH} }

// resolveBuilder picks the OCI builder unless told otherwise (the
// multistage mode is Docker's builder by nature), and refuses an explicit
// choice of Docker's builder for what it cannot do (another platform than
// the host's, more than one, a push).
//
// The OCI builder is the default for the host's platform too, by
// measurement (README: Speed): it makes the image the Dockerfile describes,
// layer for layer, and after a code change it compresses and loads one
// layer, where Docker's legacy builder creates and commits a container for
// the binary's COPY (0.2 s to 1.2 s here, whatever the layer's size).
func (c *Config) resolveBuilder() error {
	host := c.HostPlatform()
	native := len(c.Platforms) == 1 && c.Platforms[0] == host
	switch c.Builder {
	case "":
		c.Builder = "oci"
		if c.DockerfileMode == "multistage" && native && c.Push == "" {
			c.Builder = "docker" // else resolveMultistage names what it cannot honour
		}
	case "docker":
		if !native {
			return fmt.Errorf("check SLIMAGE_BUILDER: docker builds only the host platform %s, one at a time, and SLIMAGE_PLATFORMS asks for %s: set SLIMAGE_BUILDER=oci", host, platformList(c.Platforms))
		}
		if c.Push != "" {
			return errors.New("check SLIMAGE_PUSH: pushing needs SLIMAGE_BUILDER=oci (the index is built without the daemon)")
		}
	case "oci":
	default:
		return fmt.Errorf("check SLIMAGE_BUILDER: %q is not docker or oci", c.Builder)
	}
	return nil
}

// resolveMultistage checks the Dockerfile mode and derives the builder
// image from go.mod: the toolchain line's version if any, else the go line's.
func (c *Config) resolveMultistage() error {
	switch c.DockerfileMode {
	case "host", "":
		c.DockerfileMode = "host"
		return nil
	case "multistage":
	default:
		return fmt.Errorf("check SLIMAGE_DOCKERFILE_MODE: %q is not host or multistage", c.DockerfileMode)
	}
	if c.Builder != "docker" {
		// Name what multistage cannot honour, never drop it silently.
		var cannot []string
		if len(c.Platforms) != 1 || c.Platforms[0] != c.HostPlatform() {
			cannot = append(cannot, "SLIMAGE_PLATFORMS="+platformList(c.Platforms))
		}
		if c.Push != "" {
			cannot = append(cannot, "SLIMAGE_PUSH="+c.Push)
		}
		if len(cannot) == 0 {
			cannot = append(cannot, "SLIMAGE_BUILDER="+c.Builder)
		}
		return fmt.Errorf("check SLIMAGE_DOCKERFILE_MODE: multistage cannot honour %s (it builds with Docker's builder, for the host platform %s only): drop %s, or use the host mode", strings.Join(cannot, " and "), c.HostPlatform(), itOrThem(len(cannot)))
	}
	if c.GoImage == "" {
		v := strings.TrimPrefix(c.Module.Toolchain, "go")
		if v == "" {
			v = c.Module.Go
		}
		c.GoImage = "golang:" + v
	}
	if _, err := ParseImageRef(c.GoImage); err != nil {
		return fmt.Errorf("check SLIMAGE_GO_IMAGE: %q is not an image reference (%v): write e.g. golang:1.26 or golang:1.26@sha256:<digest>", c.GoImage, err)
	}
	if c.DockerfileOut == "" {
		rel, err := filepath.Rel(c.Dir, filepath.Join(c.Dist, "image", "Dockerfile.multistage"))
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = filepath.Join("dist", "image", "Dockerfile.multistage")
		}
		c.DockerfileOut = rel
	}
	out := c.DockerfileOut
	if !filepath.IsAbs(out) {
		out = filepath.Join(c.Dir, out)
	}
	if rel, err := filepath.Rel(c.Dir, out); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("check SLIMAGE_DOCKERFILE_OUT: %s is outside the module %s: the Dockerfile must be inside the build context (the module)", out, c.Dir)
	}
	return nil
}

func itOrThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func platformList(ps []Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

var (
	userForm = regexp.MustCompile(`^[0-9]+:[0-9]+$`)
	portForm = regexp.MustCompile(`^([0-9]+)(/([a-z]+))?$`)
	badTag   = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
)

// tagFrom makes a version usable as an image tag (git describe can print
// '+' or '/', which tags do not take).
func tagFrom(v string) string {
	t := badTag.ReplaceAllString(v, "-")
	if t == "" || t[0] == '.' || t[0] == '-' {
		t = "v" + t
	}
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

func splitList(v, sep string) []string {
	var out []string
	for _, f := range strings.Split(v, sep) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// AllZones reports whether SLIMAGE_ZONES asks for every zone.
func (c *Config) AllZones() bool { return len(c.Zones) == 1 && c.Zones[0] == "all" }

// checkVerify checks the verify settings that need no module, so a wrong
// one stops the run before anything is built or started.
func (c *Config) checkVerify() error {
	if err := c.checkVuln(); err != nil {
		return err
	}
	if t := strings.TrimSpace(c.VerifyTLS); t != "" && t != "off" {
		for _, u := range strings.Split(t, ",") {
			u = strings.TrimSpace(u)
			p, err := url.Parse(u)
			if err != nil || p.Scheme != "https" || p.Host == "" {
				return fmt.Errorf("check SLIMAGE_VERIFY_TLS: %q is not an https:// URL: list https:// URLs, comma-separated, or write off", u)
			}
		}
	}
	if _, _, err := c.Health(); err != nil {
		return err
	}
	for _, z := range c.Zones {
		if z == "all" && len(c.Zones) > 1 {
			return errors.New("check SLIMAGE_ZONES: all already holds every zone: write all alone, or list zones")
		}
		if strings.HasPrefix(z, "/") || strings.Contains(z, "..") {
			return fmt.Errorf("check SLIMAGE_ZONES: %q is not an IANA zone name: write e.g. Europe/Berlin,America/New_York, or all", z)
		}
	}
	for k := range c.VerifyLabels {
		if k == "" || strings.ContainsAny(k, " \t=,") || strings.HasPrefix(k, "com.github.slimage.verify") {
			return fmt.Errorf("check SLIMAGE_VERIFY_LABELS: %q is not a label key of yours: write a reverse-DNS name such as com.example.ci-job", k)
		}
	}
	for name, d := range map[string]time.Duration{"SLIMAGE_VERIFY_TIMEOUT": c.VerifyTimeout, "SLIMAGE_VERIFY_GRACE": c.VerifyGrace,
		"SLIMAGE_VERIFY_SETTLE": c.VerifySettle, "SLIMAGE_VERIFY_STOP": c.VerifyStop} {
		if d <= 0 {
			return fmt.Errorf("check %s: %s is not a positive duration: write e.g. 2s", name, d)
		}
	}
	return nil
}

// SlimageLabels are the labels slimage sets on every image (see the
// README); com.github.slimage.* keys are slimage's too.
var SlimageLabels = map[string]string{
	"org.opencontainers.image.title":    "the binary's name",
	"org.opencontainers.image.version":  "SLIMAGE_VERSION",
	"org.opencontainers.image.revision": "the commit",
	"org.opencontainers.image.source":   "git's origin, or the module path",
	"org.opencontainers.image.created":  "the commit time, or SOURCE_DATE_EPOCH",
}

// parseLabels reads SLIMAGE_LABELS: key=value adds a label, key:=value
// replaces one slimage sets.
func (c *Config) parseLabels(v string) error {
	for _, item := range splitList(v, ",") {
		into := &c.Labels
		k, val, ok := strings.Cut(item, ":=")
		if ok {
			into = &c.LabelOverrides
		} else if k, val, ok = strings.Cut(item, "="); !ok {
			return fmt.Errorf("check SLIMAGE_LABELS: %q is not key=value: write e.g. com.example.team=payments", item)
		}
		if *into == nil {
			*into = map[string]string{}
		}
		(*into)[strings.TrimSpace(k)] = val
	}
	return nil
}

// parseKeyValues reads a comma list of key=value.
func parseKeyValues(setting, v string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range splitList(v, ",") {
		k, val, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("check %s: %q is not key=value: write e.g. com.example.ci-job=1234", setting, item)
		}
		out[strings.TrimSpace(k)] = val
	}
	return out, nil
}

// checkLabels refuses an empty or spaced key, and a key slimage sets itself
// unless the user said theirs wins.
func (c *Config) checkLabels() error {
	for _, m := range []map[string]string{c.Labels, c.LabelOverrides} {
		for k := range m {
			if k == "" || strings.ContainsAny(k, " \t=,") {
				return fmt.Errorf("check SLIMAGE_LABELS: %q is not a label key: write a reverse-DNS name such as com.example.team", k)
			}
			if strings.HasPrefix(k, "com.github.slimage.") {
				return fmt.Errorf("check SLIMAGE_LABELS: %s is slimage's own (com.github.slimage.*): choose another key", k)
			}
		}
	}
	for k, v := range c.Labels {
		if from, ok := SlimageLabels[k]; ok {
			return fmt.Errorf("check SLIMAGE_LABELS: slimage sets %s itself (from %s): write %s:=%s to have yours win, or drop it", k, from, k, v)
		}
	}
	return nil
}

// labelList shows labels as SLIMAGE_LABELS spells them, sorted.
func labelList(m map[string]string, sep string) string {
	var items []string
	for k, v := range m {
		items = append(items, k+sep+v)
	}
	sort.Strings(items)
	return strings.Join(items, ",")
}
