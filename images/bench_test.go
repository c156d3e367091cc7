package images_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images"
	"github.com/slimage/slimage/internal/testkit"
)

// BenchmarkNoopImage compares, in one run, a no-op `mage image` of the
// sample (nothing changed: deps, build, staging and a fully cached docker
// build) with a bare cached `docker build` of the same staged context. It
// also reports the image's overhead: image size minus binary size.
func BenchmarkNoopImage(b *testing.B) {
	if _, err := exec.LookPath("docker"); err != nil {
		b.Skip("the docker CLI is needed for the bare docker build baseline")
	}
	testkit.HermeticGo(b)
	root := testkit.RepoRoot(b)
	dist := b.TempDir()
	ref := "slimage-bench/hello:noop"
	mage := testkit.Mage(b)
	env := append(os.Environ(), "SLIMAGE_DIST="+dist, "SLIMAGE_VERSION=bench", "SLIMAGE_IMAGE="+ref,
		"MAGEFILE_CACHE="+b.TempDir())
	mageImage := func(extra ...string) *exec.Cmd {
		cmd := exec.Command(mage, "image")
		cmd.Dir, cmd.Env = root, append(env, extra...)
		return cmd
	}
	out := testkit.Run(b, mageImage())
	b.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
	dockerBuild := func() *exec.Cmd {
		return exec.Command("docker", "build", "-q", "-t", ref, filepath.Join(dist, "image"))
	}
	testkit.Run(b, dockerBuild())

	b.Run("docker-build", func(b *testing.B) {
		for b.Loop() {
			testkit.Run(b, dockerBuild())
		}
	})
	b.Run("mage-image", func(b *testing.B) {
		for b.Loop() {
			testkit.Run(b, mageImage())
		}
	})
	b.Run("mage-image-hashfast", func(b *testing.B) {
		for b.Loop() {
			testkit.Run(b, mageImage("MAGEFILE_HASHFAST=1"))
		}
	})
	b.Run("overhead", func(b *testing.B) {
		img := testkit.Run(b, exec.Command("docker", "image", "inspect", "-f", "{{.Size}}", ref))
		bin, err := os.Stat(filepath.Join(dist, "image", "bin", "hello"))
		if err != nil {
			b.Fatal(err)
		}
		var size int64
		if _, err := fmt.Sscan(img, &size); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
		}
		b.ReportMetric(float64(size-bin.Size())/1024, "overhead-KiB")
		b.Logf("%s", out)
	})
}

// BenchmarkVerify is the wall time of verify on the sample image, with the
// probe already built (the go command's cache makes later builds no-ops).
func BenchmarkVerify(b *testing.B) {
	testkit.ContainerEnv()
	testkit.HermeticGo(b)
	cli, err := images.Connect(context.Background())
	if err != nil {
		b.Skipf("skipping: Docker is unreachable (%v)", err)
	}
	defer cli.Close()
	dir := testkit.CopySample(b, "hello")
	c, err := config.Load(context.Background(), []func(*config.Config){func(c *config.Config) {
		c.Dir, c.Dist, c.Version, c.Image = dir, filepath.Join(dir, "dist"), "bench", "slimage-bench/hello:verify"
		c.Ports, c.VerifyHealth, c.VerifyTLS = []string{"8080"}, "/healthz", "off"
	}}, nil, func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	defer removeImage(cli, c.Image)
	if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
		b.Fatal(err)
	}
	if _, err := images.Build(context.Background(), c, io.Discard, io.Discard); err != nil {
		b.Fatal(err)
	}
	if _, err := images.Verify(context.Background(), c, c.Image, io.Discard, io.Discard); err != nil {
		b.Fatal(err) // warms the probe build
	}
	for b.Loop() {
		if _, err := images.Verify(context.Background(), c, c.Image, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
