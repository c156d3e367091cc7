package images_test

import (
	"context"
	"io"
	"os/exec"
	"testing"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/internal/fakesigstore"
	"github.com/slimage/slimage/images/sign"
	"github.com/slimage/slimage/internal/testkit"
)

// BenchmarkSign compares, in one run, against a loopback registry holding
// the sample's pushed image: slimage's signing (the index and its image
// signed, and the image's SBOM and provenance attested, about the image
// and the index: 2 signatures and 4 attestations; with a key, classic and
// as Sigstore bundles, keyless as bundles, against a loopback Fulcio and
// Rekor), cosign's own `cosign sign` of the same index (1 signature, with
// the key or keyless), and merge of two per-platform pushes into one
// index.
func BenchmarkSign(b *testing.B) {
	cosignCLI, err := exec.LookPath("cosign")
	if err != nil {
		b.Skip("the cosign CLI is needed for the baseline")
	}
	testkit.ContainerEnv()
	testkit.HermeticGo(b)
	cli := docker(b)
	host := loopbackRegistry(b)
	key, _ := cosignKeys(b, "")
	b.Setenv(sign.PasswordVar, "")
	dir := testkit.CopySample(b, "hello")
	amd64, arm64 := config.Platform{OS: "linux", Arch: "amd64"}, config.Platform{OS: "linux", Arch: "arm64"}
	load := func(dist string, platforms []config.Platform, set func(*config.Config)) *config.Config {
		c := sampleConfig(b, cli, dir, func(c *config.Config) {
			c.Dist, c.Platforms, c.Push = dir+"/"+dist, platforms, host+"/shop/hello:bench"
			set(c)
		})
		return c
	}
	c := load("dist", []config.Platform{amd64}, func(c *config.Config) { c.SignKey = key })
	buildAll(b, cli, c)
	for _, p := range []config.Platform{amd64, arm64} {
		buildAll(b, cli, load("dist-"+p.DistDir(), []config.Platform{p}, func(c *config.Config) { c.PushByDigest = true }))
	}
	m := load("dist-merge", []config.Platform{amd64, arm64}, func(c *config.Config) { c.Merge = []string{"dist-linux_amd64", "dist-linux_arm64"} })

	b.Run("slimage-sign", func(b *testing.B) {
		for b.Loop() {
			if err := sign.Sign(context.Background(), sign.OptionsOf(c), io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	ss, _ := startSigstore(b)
	kl := load("dist", []config.Platform{amd64}, func(c *config.Config) {
		c.Sign, c.FulcioURL, c.RekorURL = "keyless", ss.FulcioURL, ss.RekorURL
	})
	b.Run("slimage-sign-keyless", func(b *testing.B) {
		for b.Loop() {
			if err := sign.Sign(context.Background(), sign.OptionsOf(kl), io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cosign-sign-keyless", func(b *testing.B) {
		for b.Loop() {
			if out, err := runCosign(b, cosignCLI, "sign", "--fulcio-url", ss.FulcioURL, "--rekor-url", ss.RekorURL,
				"--identity-token", fakesigstore.Token(releaseJob, releaseOIDC), "--insecure-skip-verify=true", "--yes", c.Push); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
	})
	b.Run("cosign-sign", func(b *testing.B) {
		for b.Loop() {
			if out, err := runCosign(b, cosignCLI, "sign", "--key", key, "--tlog-upload=false", "--yes", c.Push); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
	})
	b.Run("merge", func(b *testing.B) {
		for b.Loop() {
			if _, err := build.Merge(context.Background(), build.MergeOptionsOf(m), io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}
