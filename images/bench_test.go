package images_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/deploy"
	"github.com/slimage/slimage/images/deploy/kube"
	"github.com/slimage/slimage/images/stage"
	"github.com/slimage/slimage/images/verify"
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
	cli, err := daemon.Connect(context.Background(), io.Discard)
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
	if _, err := build.Build(context.Background(), c, io.Discard, io.Discard); err != nil {
		b.Fatal(err)
	}
	if _, err := verify.Verify(context.Background(), c, c.Image, io.Discard, io.Discard); err != nil {
		b.Fatal(err) // warms the probe build
	}
	// As built alone; as built and under the restricted profile (the
	// default without a manifest); as built and as the sample's manifest
	// runs it (testdata/hello/deploy: probes, grace, security context).
	verifyLoop := func(b *testing.B) {
		for b.Loop() {
			if _, err := verify.Verify(context.Background(), c, c.Image, io.Discard, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("as-built", func(b *testing.B) {
		c.VerifyRestricted = false
		defer func() { c.VerifyRestricted = true }()
		verifyLoop(b)
	})
	b.Run("restricted", verifyLoop)
	b.Run("manifest", func(b *testing.B) {
		manifest, _ := filepath.Abs(filepath.Join("..", "testdata", "hello", "deploy", "hello.yaml"))
		p, err := kube.Plan([]kube.Manifest{{Path: manifest, Name: "deploy/hello.yaml"}}, kube.Service{Name: c.Binary})
		if err != nil || len(p.Containers) != 1 {
			b.Fatal(err, p)
		}
		if err := deploy.Write(filepath.Join(c.Dist, config.DeployPlan), p); err != nil {
			b.Fatal(err)
		}
		c.Manifests = []string{manifest}
		defer func() { c.Manifests = nil }()
		verifyLoop(b)
	})
}

// BenchmarkOCIBuild compares, in one run, the daemonless OCI build of one
// platform (assemble the image from the staged context, write the OCI
// layout) with Docker's build of the same context, uncached and cached, and
// times a two-platform OCI build (staging included).
func BenchmarkOCIBuild(b *testing.B) {
	if _, err := exec.LookPath("docker"); err != nil {
		b.Skip("the docker CLI is needed for the docker build baseline")
	}
	testkit.HermeticGo(b)
	b.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := testkit.CopySample(b, "hello")
	load := func(platforms []config.Platform) *config.Config {
		c, err := config.Load(context.Background(), []func(*config.Config){func(c *config.Config) {
			c.Dir, c.Dist, c.Version, c.Platforms = dir, filepath.Join(dir, "dist"), "bench", platforms
			c.Image, c.Ports = "slimage-bench/hello:oci", []string{"8080"}
		}}, nil, func(string) (string, bool) { return "", false })
		if err != nil {
			b.Fatal(err)
		}
		if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
			b.Fatal(err)
		}
		return c
	}
	one := load(nil)
	p := one.Platforms[0]
	sc, err := stage.Write(context.Background(), one, p)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { exec.Command("docker", "rmi", "-f", one.Image).Run() })
	out := b.TempDir()

	b.Run("oci-1-platform", func(b *testing.B) {
		for b.Loop() {
			img, err := build.OCIImage(sc, p)
			if err != nil {
				b.Fatal(err)
			}
			idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
			if err := build.WriteLayout(idx, filepath.Join(out, "one"), ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("docker-build-nocache", func(b *testing.B) {
		for b.Loop() {
			id := strings.TrimSpace(testkit.Run(b, exec.Command("docker", "build", "--no-cache", "-q", "-t", one.Image, sc.Dir)))
			b.Cleanup(func() { exec.Command("docker", "rmi", "-f", id).Run() }) // untagged by the next build
		}
	})
	b.Run("docker-build-cached", func(b *testing.B) {
		for b.Loop() {
			testkit.Run(b, exec.Command("docker", "build", "-q", "-t", one.Image, sc.Dir))
		}
	})
	two := load([]config.Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}})
	b.Run("oci-2-platforms", func(b *testing.B) {
		for b.Loop() {
			idx, _, err := build.BuildOCIIndex(context.Background(), two)
			if err != nil {
				b.Fatal(err)
			}
			if err := build.WriteLayout(idx, filepath.Join(out, "two"), ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAttest is what the SBOM and the provenance add to every `mage
// image`, no-op or not: reading the binary's build information, hashing it
// and the staged files, asking git whether the checkout is clean, and
// writing both documents.
func BenchmarkAttest(b *testing.B) {
	cli, err := daemon.Connect(context.Background(), io.Discard)
	if err != nil {
		b.Skipf("Docker is unreachable: %v", err)
	}
	defer cli.Close()
	testkit.HermeticGo(b)
	dir := testkit.CopySample(b, "hello")
	c, err := config.Load(context.Background(), []func(*config.Config){func(c *config.Config) {
		c.Dir, c.Dist, c.Version, c.Image = dir, filepath.Join(dir, "dist"), "bench", "slimage-bench/hello:attest"
	}}, nil, func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { exec.Command("docker", "rmi", "-f", c.Image).Run() })
	if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
		b.Fatal(err)
	}
	built, err := build.Build(context.Background(), c, io.Discard, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := stage.Write(context.Background(), c, c.Platforms[0]) // what the build staged: unchanged, not restaged
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := build.Attest(c, built[0], sc); err != nil {
			b.Fatal(err)
		}
	}
}
