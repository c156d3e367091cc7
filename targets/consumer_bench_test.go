package targets_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/slimage/slimage/internal/testkit"
)

// benchConsumer is the footprint service with the targets imported into its
// own module, as the README says (through a replace to this checkout), and
// functions that run mage and the bare commands in it.
type benchConsumer struct {
	dir, mage, version string
	bare               string // the bare commands' context, outside the module: their writes are not the service's inputs
	env                []string
	edits              int
}

func newBenchConsumer(b *testing.B) *benchConsumer {
	testkit.ModCacheProxy(b)
	dir := testkit.CopySample(b, "footprint")
	testkit.ImportTargets(b, dir)
	return &benchConsumer{dir: dir, bare: filepath.Join(filepath.Dir(dir), "bare"), mage: testkit.Mage(b), version: "bench",
		env: []string{"SLIMAGE_VERSION=bench", "MAGEFILE_CACHE=" + b.TempDir()}}
}

func (c *benchConsumer) cmd(env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	cmd.Env = append(append(os.Environ(), c.env...), env...)
	return cmd
}

// bareBuild is what a user would type instead of slimage's build.
func (c *benchConsumer) bareBuild(env []string) *exec.Cmd {
	out := filepath.Join(c.bare, "bin", "footprint")
	return c.cmd(append(env, "CGO_ENABLED=0"), "go", "build", "-trimpath", "-ldflags=-s -w -X main.version="+c.version, "-o", out, ".")
}

// bareImage builds a copy of slimage's staged context (the same Dockerfile
// and files) around the bare binary: go build + docker build.
func (c *benchConsumer) bareImage(b *testing.B, env []string) {
	testkit.Run(b, c.bareBuild(env))
	testkit.Run(b, c.cmd(env, "docker", "build", "-q", "-t", "slimage-bench/bare:bench", c.bare))
}

// stageBare makes c.bare a copy of dist/image with the bare binary's place.
func (c *benchConsumer) stageBare(b *testing.B) {
	os.RemoveAll(c.bare)
	testkit.CopyDir(b, filepath.Join(c.dir, "dist", "image"), c.bare)
	// dist/image keeps the binary under bin/ with the name the Dockerfile copies.
	if _, err := os.Stat(filepath.Join(c.bare, "bin", "footprint")); err != nil {
		b.Fatalf("dist/image has no bin/footprint: %v", err)
	}
}

func removeBenchImages() {
	exec.Command("docker", "rmi", "-f", "footprint:bench", "slimage-bench/bare:bench").Run()
}

// edit makes a one-line change to the service, untimed, then waits a random
// part of a second: on this machine's daemon a docker build's commit ends
// just after a whole second of the wall clock, so a steady rhythm would
// lock the bare commands into one phase (see bench/main.go).
func (c *benchConsumer) edit(b *testing.B) {
	b.StopTimer()
	defer b.StartTimer()
	c.edits++
	testkit.WriteFiles(b, c.dir, map[string]string{"zz_bench.go": fmt.Sprintf("package main\n\nimport \"os\"\n\nfunc init() {\n\tif os.Getenv(\"BENCH_NEVER\") == \"x\" {\n\t\tprintln(\"edit %d\")\n\t}\n}\n", c.edits)})
	time.Sleep(rand.N(time.Second))
}

// BenchmarkConsumer compares, in one run on the footprint consumer, slimage's
// no-op targets and a one-line change with the bare commands they replace. mage rechecks its
// compiled magefile with a `go build` of its own on every run;
// MAGEFILE_HASHFAST=1 skips that. Quote the ratios of the ns/op.
func BenchmarkConsumer(b *testing.B) {
	testkit.NeedDocker(b)
	c := newBenchConsumer(b)
	b.Cleanup(removeBenchImages)
	testkit.Run(b, c.cmd(nil, c.mage, "image")) // warm: magefile, engine, binary, image
	c.stageBare(b)
	c.bareImage(b, nil)
	hashfast := []string{"MAGEFILE_HASHFAST=1"}
	runs := []struct {
		name string
		run  func(b *testing.B)
	}{
		{"noop-build/bare-go-build", func(b *testing.B) { testkit.Run(b, c.bareBuild(nil)) }},
		{"noop-build/mage-build", func(b *testing.B) { testkit.Run(b, c.cmd(nil, c.mage, "build")) }},
		{"noop-build/mage-build-hashfast", func(b *testing.B) { testkit.Run(b, c.cmd(hashfast, c.mage, "build")) }},
		{"noop-image/bare-go-build+docker-build", func(b *testing.B) { c.bareImage(b, nil) }},
		{"noop-image/mage-image", func(b *testing.B) { testkit.Run(b, c.cmd(nil, c.mage, "image")) }},
		{"noop-image/mage-image-hashfast", func(b *testing.B) { testkit.Run(b, c.cmd(hashfast, c.mage, "image")) }},
		{"change-image/bare-go-build+docker-build", func(b *testing.B) { c.edit(b); c.bareImage(b, nil) }},
		{"change-image/mage-image", func(b *testing.B) { c.edit(b); testkit.Run(b, c.cmd(nil, c.mage, "image")) }},
		{"change-image/mage-image-hashfast", func(b *testing.B) { c.edit(b); testkit.Run(b, c.cmd(hashfast, c.mage, "image")) }},
	}
	for _, r := range runs {
		b.Run(r.name, func(b *testing.B) {
			for range b.N {
				r.run(b)
			}
		})
	}
}

// BenchmarkConsumerCold compares a cold `mage image` (empty Go build cache,
// user cache and magefile cache: a fresh CI runner with a warm module cache)
// with a cold bare go build + docker build, in one run. Each iteration takes
// minutes: run it with -benchtime 2x.
func BenchmarkConsumerCold(b *testing.B) {
	testkit.NeedDocker(b)
	c := newBenchConsumer(b)
	b.Cleanup(removeBenchImages)
	testkit.Run(b, c.cmd(nil, c.mage, "image"))
	c.stageBare(b)
	cold := func(b *testing.B) []string {
		removeBenchImages()
		return []string{"GOCACHE=" + b.TempDir(), "XDG_CACHE_HOME=" + b.TempDir(), "MAGEFILE_CACHE=" + b.TempDir()}
	}
	b.Run("bare-go-build+docker-build", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			env := cold(b)
			b.StartTimer()
			c.bareImage(b, env)
		}
	})
	b.Run("mage-image", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			env := cold(b)
			b.StartTimer()
			testkit.Run(b, c.cmd(env, c.mage, "image"))
		}
	})
}
