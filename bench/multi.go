package main

import (
	"fmt"
	"path/filepath"
)

// multiServices are testdata/multi's services, each a main package under
// cmd/.
var multiServices = []string{"api", "cli", "worker"}

// runMulti builds testdata/multi's three services (an API with a ui/
// folder, a worker, a CLI) four ways, in one run: one `mage image` for all
// three; three `mage image` runs of one service each (SLIMAGE_SERVICES, a
// dist each: what a repository did before slimage knew several services,
// and what a CI matrix does); `go build ./cmd/...` plus a `docker build`
// per service; and ko build of the three packages. The module imports the
// targets the README's way (a require, here replaced by this checkout, and
// its own magefile), and mage runs in its folder. Each is timed cold (empty build
// and user caches), no-op, and after a one-line change in the worker.
func runMulti(root string, runs, cold int) error {
	var kos [][2]string
	for _, s := range multiServices {
		kos = append(kos, [2]string{s, "./cmd/" + s})
	}
	b, err := setUp(root, "multi", kos)
	if err != nil {
		return err
	}
	defer b.close()
	work, svc, tools, mage := b.work, b.svc, b.tools, b.mage
	if err := sh(svc, nil, "go", "mod", "edit", "-require=github.com/slimage/slimage@v0.0.0", "-replace=github.com/slimage/slimage="+root); err != nil {
		return err
	}
	if err := sh(svc, nil, "go", "mod", "tidy"); err != nil {
		return err
	}

	images := func(prefix string) []string {
		tag := ":bench"
		if prefix == "ko.local/" {
			tag = ":latest"
		}
		var out []string
		for _, s := range multiServices {
			out = append(out, prefix+s+tag)
		}
		return out
	}
	mageImage := func(env []string, dist, repo string, more ...string) error {
		return sh(svc, append(append(env, "SLIMAGE_DIST="+filepath.Join(work, dist), "SLIMAGE_REPO="+repo, "SLIMAGE_VERSION=bench"), more...), mage, "image")
	}
	bare := filepath.Join(work, "bare")
	variants := []variant{
		{name: "slimage: one mage image (3 services)", images: images("slimage-bench/all-"), run: func(env []string) error {
			return mageImage(env, "dist-all", "slimage-bench/all-")
		}},
		{name: "slimage: 3 mage image runs (one service each)", images: images("slimage-bench/single-"), run: func(env []string) error {
			for _, s := range multiServices {
				if err := mageImage(env, "dist-"+s, "slimage-bench/single-", "SLIMAGE_SERVICES="+s); err != nil {
					return err
				}
			}
			return nil
		}},
		{name: "go build ./cmd/... + 3 docker builds", images: images("slimage-bench/bare-"), run: func(env []string) error {
			if err := sh(svc, append(env, "CGO_ENABLED=0"), "go", "build", "-trimpath", "-ldflags=-s -w -X main.version=bench", "-o", bare+string(filepath.Separator), "./cmd/..."); err != nil {
				return err
			}
			for _, s := range multiServices {
				if err := sh(bare, append(env, "DOCKER_BUILDKIT=0"), "docker", "build", "-q", "-f", "Dockerfile."+s, "-t", "slimage-bench/bare-"+s+":bench", "."); err != nil {
					return err
				}
			}
			return nil
		}},
		// ko v0.19.1 refuses ./cmd/... ("found 3 local packages, expected
		// 1"): it is given the three packages.
		{name: "ko " + koVersion + " build ./cmd/api ./cmd/cli ./cmd/worker", images: images("ko.local/"), run: func(env []string) error {
			args := []string{"build", "--local", "--base-import-paths", "--platform=linux/" + hostArch()}
			for _, s := range multiServices {
				args = append(args, "./cmd/"+s)
			}
			return sh(svc, env, filepath.Join(tools, "ko"), args...)
		}},
	}
	defer func() {
		for _, v := range variants {
			removeImages(v)
		}
	}()
	// The bare contexts: the CA bundle, the zone and the API's ui/ that
	// slimage's images hold.
	if err := variants[0].run(nil); err != nil {
		return fmt.Errorf("first slimage build: %w", err)
	}
	rootfs := filepath.Join(work, "dist-all", "api", "image", "rootfs")
	if err := copyTree(filepath.Join(svc, "ui"), filepath.Join(bare, "ui")); err != nil {
		return err
	}
	for _, s := range multiServices {
		more := ""
		if s == "api" {
			more = "COPY ui /app/ui\nEXPOSE 9090 8080\n"
		}
		if err := writeBareContext(rootfs, bare, "Dockerfile."+s, s, more); err != nil {
			return err
		}
	}
	edit := oneLineChange(filepath.Join(svc, "cmd", "worker", "zz_bench.go")) // the worker
	results, err := measure(work, variants, cold, runs, edit)
	if err != nil {
		return err
	}

	fmt.Printf("\ntestdata/multi's three services built side by side on this machine, in one run (medians: cold of %d, others of %d; the change is in the worker), seconds:\n\n", cold, runs)
	printRatios(variants, printTable(variants, results), [][2]int{{0, 1}, {0, 2}, {0, 3}})
	return nil
}
