// Package targets holds slimage's mage targets. Import them into a magefile:
//
//	//mage:import
//	_ "github.com/slimage/slimage/targets"
//
// Every exported function here is a target, so configuration goes through
// Defaults and Configure, whose function arguments mage does not take for
// targets.
package targets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/magefile/mage/mg"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images"
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
		setup.Lock()
		defer setup.Unlock()
		loaded.cfg, loaded.err = config.Load(ctx, setup.defaults, setup.overrides, os.LookupEnv)
		if loaded.err == nil && mg.Verbose() {
			fmt.Print(loaded.cfg)
		}
	})
	return loaded.cfg, loaded.err
}

// Deps downloads the module's dependencies and verifies them against go.sum.
func Deps(ctx context.Context) error {
	c, err := load(ctx)
	if err != nil {
		return err
	}
	return gobuild.Deps(ctx, c, os.Stdout)
}

// Build cross-compiles static, stripped binaries into dist/<os>_<arch>/.
func Build(ctx context.Context) error {
	mg.CtxDeps(ctx, Deps)
	c, err := load(ctx)
	if err != nil {
		return err
	}
	_, err = gobuild.Build(ctx, c, os.Stdout)
	return err
}

// Image builds the scratch image (CA bundle, zone, non-root user) and tags it.
func Image(ctx context.Context) error {
	c, err := load(ctx)
	if err != nil {
		return err
	}
	if c.DockerfileMode != "multistage" { // which compiles inside Docker
		mg.CtxDeps(ctx, Build)
	}
	_, err = images.Build(ctx, c, progress(), os.Stdout)
	return err
}

// Verify starts the image and proves from inside it that TLS calls validate
// and the time zone is right.
func Verify(ctx context.Context) error {
	mg.CtxDeps(ctx, Image)
	c, err := load(ctx)
	if err != nil {
		return err
	}
	// Every platform is verified, and every failure reported, before failing.
	var errs []error
	for _, t := range images.Tags(c) {
		if _, err := images.Verify(ctx, c, t.Ref, progress(), os.Stdout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// VerifyImage runs verify's checks on an image already in the local Docker,
// built anywhere: mage verifyImage myapp:1.2.3.
func VerifyImage(ctx context.Context, ref string) error {
	c, err := settings()
	if err != nil {
		return err
	}
	_, err = images.Verify(ctx, c, ref, progress(), os.Stdout)
	return err
}

// progress is where libraries stream their details: stdout under mage -v.
func progress() io.Writer {
	if mg.Verbose() {
		return os.Stdout
	}
	return io.Discard
}
