package images_test

import (
	"context"
	"crypto"
	"io"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/images/sign"
	"github.com/slimage/slimage/images/verify"
	"github.com/slimage/slimage/internal/testkit"
	"github.com/slimage/slimage/manifests"
)

// A build split across machines: each platform built and pushed by its
// own run, by digest (the tag untouched), then merged into an index whose
// digest is the one a single run building both platforms makes, pushed to
// the tag, recorded for resolve, and signed.
func TestMergeEqualsOneMachineBuild(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	host := loopbackRegistry(t)
	tag := host + "/shop/hello:1.0"
	dir := testkit.CopySample(t, "hello")
	amd64, arm64 := config.Platform{OS: "linux", Arch: "amd64"}, config.Platform{OS: "linux", Arch: "arm64"}
	run := func(dist string, platforms []config.Platform, set func(*config.Config)) *config.Config {
		c := sampleConfig(t, cli, dir, func(c *config.Config) {
			c.Dist, c.Platforms = filepath.Join(dir, dist), platforms
			if set != nil {
				set(c)
			}
		})
		return c
	}
	byDigest := func(c *config.Config) { c.Push, c.PushByDigest = tag, true }
	for _, job := range []struct {
		dist     string
		platform config.Platform
	}{{"dist-arm64", arm64}, {"dist-amd64", amd64}} {
		buildAll(t, cli, run(job.dist, []config.Platform{job.platform}, byDigest))
	}
	ref, _ := name.ParseReference(tag)
	if _, err := remote.Head(ref); err == nil {
		t.Fatalf("a per-platform job moved the tag %s", tag)
	}

	// The final job: its platforms in the index's order, the jobs' folders
	// in any.
	m := run("dist-merge", []config.Platform{amd64, arm64}, func(c *config.Config) {
		c.Push, c.Merge = tag, []string{"dist-arm64", "dist-amd64"}
	})
	merged, err := build.Merge(context.Background(), build.MergeOptionsOf(m), io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	one := run("dist-one", []config.Platform{amd64, arm64}, nil)
	buildAll(t, cli, one)
	local, err := build.LayoutIndex(filepath.Join(one.Dist, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := local.Digest(); merged != want {
		t.Errorf("merged index %s, one machine's %s", merged, want)
	}
	if d, err := remote.Head(ref); err != nil || d.Digest != merged {
		t.Errorf("the tag %s: %v %v, want %s", tag, d, err, merged)
	}
	if rec, err := manifests.ReadPushed(m.Dist); err != nil || rec.Digest != merged.String() || rec.Ref != tag || rec.ByDigest {
		t.Errorf("merge's push record: %+v %v", rec, err)
	}

	// The merged index signed, as the final job signs it: the index and
	// both platforms' images, each platform's SBOM and provenance.
	key, pub := cosignKeys(t, "")
	t.Setenv(sign.PasswordVar, "")
	m.SignKey = key
	if err := sign.Sign(context.Background(), sign.OptionsOf(m), io.Discard); err != nil {
		t.Fatal(err)
	}
	verifier, err := signature.LoadVerifierFromPEMFile(pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	signed := []name.Reference{ref}
	for _, d := range im.Manifests {
		signed = append(signed, ref.Context().Digest(d.Digest.String()))
	}
	for _, r := range signed {
		co := &cosign.CheckOpts{SigVerifier: verifier, IgnoreTlog: true, ClaimVerifier: cosign.SimpleClaimVerifier}
		if _, _, err := cosign.VerifyImageSignatures(context.Background(), r, co); err != nil {
			t.Errorf("signature of %s: %v", r, err)
		}
		co.ClaimVerifier = cosign.IntotoSubjectClaimVerifier
		if _, _, err := cosign.VerifyImageAttestations(context.Background(), r, co); err != nil {
			t.Errorf("attestations of %s: %v", r, err)
		}
	}

	// verifyImage of the merged tag: its signature and attestations, then
	// both platforms' images pulled by digest and verified (arm64 under
	// QEMU emulation).
	testkit.NeedEmulation(t)
	d, err := sign.Check(context.Background(), tag, sign.Trust{Key: pub}, io.Discard)
	if err != nil || d.DigestStr() != merged.String() {
		t.Fatalf("check the merged tag: %v %v", d, err)
	}
	runs := verify.Pulled(context.Background(), m, tag, d.String(), io.Discard, io.Discard)
	if len(runs) != 2 {
		t.Fatalf("verify of the merged digest: %d runs, want 2: %+v", len(runs), runs)
	}
	for _, r := range runs {
		if r.Err != nil || !r.Report.Passed {
			t.Errorf("verify %s %s: %v", r.Image, r.Platform, r.Err)
		}
	}

	// What cannot be merged says which folder and why.
	for _, tc := range []struct {
		set  func(*config.Config)
		want string
	}{
		{func(c *config.Config) { c.Merge = []string{"dist-amd64"} }, "no job pushed linux/arm64, which SLIMAGE_PLATFORMS lists"},
		{func(c *config.Config) { c.Merge = []string{"dist-amd64", "dist-amd64"} }, "both pushed linux/amd64"},
		{func(c *config.Config) { c.Merge = []string{"dist-one", "dist-amd64"} }, "name the output folder of a job that pushed with SLIMAGE_PUSH_BY_DIGEST=true"},
		{func(c *config.Config) {
			c.Merge, c.Push = []string{"dist-amd64", "dist-arm64"}, host+"/other/hello:1.0"
		}, "push every platform to the repository the index goes to"},
		{func(c *config.Config) {
			c.Merge, c.Platforms = []string{"dist-amd64", "dist-arm64"}, []config.Platform{amd64}
		}, "pushed linux/arm64, which SLIMAGE_PLATFORMS does not list"},
	} {
		c := run("dist-bad", []config.Platform{amd64, arm64}, func(c *config.Config) { c.Push = tag; tc.set(c) })
		_, err := build.Merge(context.Background(), build.MergeOptionsOf(c), io.Discard)
		testkit.ErrorMentions(t, err, "merge: ", tc.want)
	}
}
