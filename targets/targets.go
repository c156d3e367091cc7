// Package targets holds slimage's mage targets. Import them into a magefile:
//
//	//mage:import
//	_ "github.com/slimage/slimage/targets"
//
// Every exported function here is a target, so configuration goes through
// Defaults and Configure, whose function arguments mage does not take for
// targets. Deps and Build run here; Image, Verify and VerifyImage run the
// image engine (module github.com/slimage/slimage/images) as a child
// process, so a magefile that imports this package links nothing heavy.
package targets

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/magefile/mage/mg"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/internal/distlock"
	"github.com/slimage/slimage/internal/engine"
	"github.com/slimage/slimage/internal/gotool"
	"github.com/slimage/slimage/internal/outdir"
	"github.com/slimage/slimage/manifests"
)

var (
	setup struct {
		sync.Mutex
		defaults, overrides []func(*config.Config)
	}
	loaded struct {
		once sync.Once
		cfg  *config.Config
		err  error
	}
)

// settings is the configuration without the Go module (for VerifyImage,
// which may run where there is none).
func settings() (*config.Config, error) {
	echoGoCommands()
	setup.Lock()
	defer setup.Unlock()
	return config.LoadSettings(setup.defaults, setup.overrides, os.LookupEnv)
}

// Defaults registers fn to change slimage's defaults before the SLIMAGE_*
// environment variables are applied: the environment still wins. Call it
// from a magefile's init. This repository's magefile uses it to point
// slimage at the sample app.
func Defaults(fn func(*config.Config)) {
	setup.Lock()
	defer setup.Unlock()
	setup.defaults = append(setup.defaults, fn)
}

// Configure registers fn to change the configuration after the environment
// has been applied: what fn sets wins over SLIMAGE_* variables. Fields fn
// leaves empty are still derived from go.mod. Call it from a magefile's init.
func Configure(fn func(*config.Config)) {
	setup.Lock()
	defer setup.Unlock()
	setup.overrides = append(setup.overrides, fn)
}

// load builds the effective configuration once per mage run (see
// config.Load for the order) and prints it under mage -v.
func load(ctx context.Context) (*config.Config, error) {
	loaded.once.Do(func() {
		echoGoCommands()
		setup.Lock()
		defer setup.Unlock()
		loaded.cfg, loaded.err = config.Load(ctx, setup.defaults, setup.overrides, os.LookupEnv)
		if loaded.err == nil && mg.Verbose() {
			fmt.Print(loaded.cfg)
		}
	})
	return loaded.cfg, loaded.err
}

// echoGoCommands has mage -v print the go commands slimage runs, as it
// prints those of mage's sh.
func echoGoCommands() {
	if mg.Verbose() {
		gotool.Echo = os.Stderr
	}
}

// Deps downloads the module's dependencies and verifies them against
// go.sum, then makes sure the image engine is built (its modules are
// reported apart from the service's), so later steps need no network.
func Deps(ctx context.Context) error {
	mg.CtxDeps(ctx, goDeps)
	c, err := load(ctx)
	if err != nil {
		return err
	}
	e, err := ensureEngine(ctx, c.GoEnv, engine.Main)
	if err != nil {
		return err
	}
	// The engine's modules are slimage's, not the service's: a line apart
	// (a build said so already, with what it took).
	if !e.Built {
		fmt.Printf("deps engine %s: ready (cached)\n", e.Source)
	}
	return nil
}

// goDeps is Deps without the engine: what Build needs.
func goDeps(ctx context.Context) error {
	c, err := load(ctx)
	if err != nil {
		return err
	}
	return gobuild.Deps(ctx, c, os.Stdout)
}

// heldDist keeps the output folder's lock for the rest of the run (an
// unreferenced one would be closed, and so released, by the collector);
// the engine holds it too while it runs.
var heldDist *distlock.Lock

// lockDist takes the output folder's lock: a second run on the same folder
// (an editor's save hook and a terminal) waits for this one to finish, so
// neither swaps dist/ under the other.
func lockDist(ctx context.Context) error {
	c, err := load(ctx)
	if err != nil {
		return err
	}
	if heldDist, err = distlock.Acquire(ctx, c.Dist, os.Stdout); err != nil {
		return err
	}
	return c.PruneOutputs()
}

// Build cross-compiles static, stripped binaries into dist/<os>_<arch>/.
func Build(ctx context.Context) error {
	mg.CtxDeps(ctx, lockDist)
	mg.CtxDeps(ctx, goDeps)
	c, err := load(ctx)
	if err != nil {
		return err
	}
	_, err = gobuild.Build(ctx, c, os.Stdout)
	return err
}

// imageInputs is the check of what only the image and the steps after it
// read, made once per run before any work (see config.CheckImageInputs).
var imageInputs struct {
	once sync.Once
	err  error
}

func checkImageInputs(ctx context.Context, c *config.Config) error {
	imageInputs.once.Do(func() {
		notes, err := c.CheckImageInputs(ctx)
		for _, n := range notes {
			fmt.Fprintln(os.Stderr, "note: "+n)
		}
		imageInputs.err = err
	})
	return imageInputs.err
}

// Image builds the scratch image (CA bundle, zone, non-root user) and tags
// it; with SLIMAGE_PUSH it pushes it, and with SLIMAGE_SIGN_KEY signs what
// it pushed.
func Image(ctx context.Context) error {
	c, err := load(ctx)
	if err != nil {
		return err
	}
	if err := checkImageInputs(ctx, c); err != nil {
		return err
	}
	mg.CtxDeps(ctx, lockDist)
	if c.DockerfileMode != "multistage" { // which compiles inside Docker
		mg.CtxDeps(ctx, Build)
	}
	if err := runEngine(ctx, c, engine.Main, "image"); err != nil {
		return err
	}
	return signPushed(ctx, c)
}

// signPushed signs what the step before pushed, with SLIMAGE_SIGN_KEY or
// keyless (SLIMAGE_SIGN).
func signPushed(ctx context.Context, c *config.Config) error {
	if !c.Signs() || c.Push == "" {
		return nil
	}
	return runEngine(ctx, c, signer(c.SignKey), "sign")
}

// signer is the signing command for key: slimage-sign-kms for a key held
// in a KMS sigstore has a provider for, slimage-sign for the rest (key
// files, keyless, KMS plugins).
func signer(key string) engine.Command {
	if config.BuiltinKMS(key) {
		return engine.SignKMS
	}
	return engine.Sign
}

// Verify starts the image and proves from inside it that TLS calls validate
// and the time zone is right; with SLIMAGE_MANIFESTS, it also runs it as
// each container of the manifests that runs it.
func Verify(ctx context.Context) error {
	c, err := load(ctx)
	if err != nil {
		return err
	}
	if err := checkImageInputs(ctx, c); err != nil {
		return err
	}
	if len(c.Manifests) > 0 {
		if _, err := manifests.Find(c.ManifestPaths()); err != nil {
			return err // before any work
		}
	}
	mg.CtxDeps(ctx, Image)
	if len(c.Manifests) > 0 {
		// How the manifests run each service, for verify to run it so.
		if err := runEngine(ctx, c, engine.Deploy, "plan"); err != nil {
			return err
		}
	}
	return runEngine(ctx, c, engine.Main, "verify")
}

// Resolve writes the deployment's manifests with each slimage://<service>
// image replaced by the pushed, verified digest. The manifests are
// SLIMAGE_MANIFESTS; the digest is what the image step pushed and verify
// then proved; they go into <dist>/manifests/, in the files' layout, or to
// standard output (SLIMAGE_RESOLVE_STDOUT=true). What runs right before
// kubectl apply.
func Resolve(ctx context.Context) error {
	c, err := load(ctx)
	if err != nil {
		return err
	}
	if len(c.Manifests) == 0 {
		return fmt.Errorf("resolve: SLIMAGE_MANIFESTS names no manifests: list the deployment's YAML files or folders")
	}
	files, err := manifests.Find(c.ManifestPaths()) // before any work
	if err != nil {
		return err
	}
	var stdout io.Writer
	if c.ResolveStdout {
		// Standard output is the manifests' alone (mage resolve | kubectl
		// apply -f -): what the steps before print goes to standard error.
		stdout = os.Stdout
		os.Stdout = os.Stderr
		defer func() { os.Stdout = stdout.(*os.File) }()
	}
	mg.CtxDeps(ctx, Verify)
	pushes := manifests.Pushes{}
	for _, s := range c.Services {
		pushes[s.Name] = c.ForService(s).Dist
	}
	return manifests.Write(files, pushes.Lookup, c.Dist, stdout, os.Stdout)
}

// Merge joins the images that per-platform jobs pushed by digest
// (SLIMAGE_PLATFORMS one platform each, SLIMAGE_PUSH_BY_DIGEST=true) into
// one index, byte for byte the one a single machine building every
// platform makes, and pushes it to SLIMAGE_PUSH's tag: the final job of a
// build split across machines. SLIMAGE_MERGE names the jobs' output
// folders; with SLIMAGE_SIGN_KEY, the merged index is signed.
func Merge(ctx context.Context) error {
	c, err := load(ctx)
	if err != nil {
		return err
	}
	mg.CtxDeps(ctx, lockDist)
	if err := runEngine(ctx, c, engine.Main, "merge"); err != nil {
		return err
	}
	return signPushed(ctx, c)
}

// Vulncheck checks each built binary for known vulnerabilities it reaches
// (govulncheck), and fails on any not listed in SLIMAGE_VULN_ALLOW.
func Vulncheck(ctx context.Context) error {
	mg.CtxDeps(ctx, Build)
	c, err := load(ctx)
	if err != nil {
		return err
	}
	return runEngine(ctx, c, engine.Vulncheck, "vulncheck")
}

// VerifyImage runs verify's checks on an image already in the local Docker,
// built anywhere: mage verifyImage myapp:1.2.3. With SLIMAGE_VERIFY_KEY (or
// a keyless signer's SLIMAGE_VERIFY_IDENTITY and SLIMAGE_VERIFY_ISSUER), on
// what a registry serves: mage verifyImage registry.example/shop/api:1.2.3
// checks its signature and attestations, then pulls exactly the digest
// they are about and verifies each platform's image.
func VerifyImage(ctx context.Context, ref string) error {
	c, err := settings()
	if err != nil {
		return err
	}
	if err := config.CheckContainerEngine(os.Getenv); err != nil {
		return err
	}
	env, err := gotool.ReadEnv(ctx)
	if err != nil {
		return fmt.Errorf("read go env: %w", err)
	}
	if err := c.CheckVerifyTrust(); err != nil {
		return err
	}
	args := []string{"verify-image", ref}
	if c.VerifyKey != "" || c.Keyless() {
		// What the registry serves: its signature and attestations first,
		// which name the digest verify then pulls.
		digest, err := checkSigned(ctx, c, env, ref)
		if err != nil {
			return err
		}
		args = append(args, digest)
	}
	e, err := ensureEngine(ctx, env, engine.Main)
	if err != nil {
		return err
	}
	return e.Run(ctx, c, engine.RunOptions{Verbose: mg.Verbose()}, args...)
}

// checkSigned checks ref's signature and attestations with
// SLIMAGE_VERIFY_KEY or the keyless identity, and returns the digest
// (registry/repository@sha256:…) they are about.
func checkSigned(ctx context.Context, c *config.Config, env gotool.Env, ref string) (string, error) {
	e, err := ensureEngine(ctx, env, signer(c.VerifyKey))
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "slimage-verify-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, "digest")
	if err := e.Run(ctx, c, engine.RunOptions{Verbose: mg.Verbose()}, "check", ref, file); err != nil {
		return "", err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("verifyImage %s: %w", ref, err)
	}
	return strings.TrimSpace(string(data)), nil
}

var engines struct {
	sync.Mutex
	built map[engine.Command]*engine.Engine
}

// ensureEngine finds (or builds, once per run) the engine command of the
// same slimage release as these targets.
func ensureEngine(ctx context.Context, env gotool.Env, cmd engine.Command) (*engine.Engine, error) {
	engines.Lock()
	defer engines.Unlock()
	if e := engines.built[cmd]; e != nil {
		return e, nil
	}
	e, err := engine.Ensure(ctx, env, cmd, os.Stdout)
	if err != nil {
		return nil, err
	}
	if mg.Verbose() {
		fmt.Printf("engine: %s (%s)\n", e.Source, e.Path)
	}
	if engines.built == nil {
		engines.built = map[engine.Command]*engine.Engine{}
	}
	engines.built[cmd] = e
	return e, nil
}

// runEngine runs an engine step for each selected service: with several,
// in parallel (as many at once as there are CPUs), each line of output
// after its service's name, every service to its end; the step fails if
// any service's did, naming each.
func runEngine(ctx context.Context, c *config.Config, cmd engine.Command, args ...string) error {
	e, err := ensureEngine(ctx, c.GoEnv, cmd)
	if err != nil {
		return err
	}
	opts := engine.RunOptions{Verbose: mg.Verbose()}
	if heldDist != nil {
		opts.Hold = heldDist.File()
	}
	if !c.Several() {
		return e.Run(ctx, c, opts, args...)
	}
	svcs := c.Selected()
	errs := make([]error, len(svcs))
	slots := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i, s := range svcs {
		sc := c.ForService(s)
		if err := outdir.Ensure(c.Dist, sc.Dist); err != nil {
			return fmt.Errorf("%s %s: %w", args[0], s.Name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			o := opts
			out, errOut := prefixed(os.Stdout, s.Name), prefixed(os.Stderr, s.Name)
			o.Stdout, o.Stderr = out, errOut
			errs[i] = e.Run(ctx, sc, o, args...)
			out.Flush()
			errOut.Flush()
		}()
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, svcs[i].Name+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s: %d of %d services failed: %s", args[0], len(failed), len(svcs), strings.Join(failed, "; "))
	}
	return nil
}
