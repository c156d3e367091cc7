package images_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/internal/fakesigstore"
	"github.com/slimage/slimage/images/sign"
	"github.com/slimage/slimage/internal/testkit"
)

// The identity and issuer of the CI job that signs in these tests.
const (
	releaseJob   = "release@shop.example"
	releaseOIDC  = "https://ci.shop.example"
	intruderMail = "intruder@elsewhere.example"
)

// startSigstore starts a loopback Fulcio and Rekor (sigstore-go's test CA
// and log), gives the test a CI job's OIDC token for releaseJob, and
// returns them with the trusted root that trusts them.
func startSigstore(t testing.TB) (*fakesigstore.Sigstore, string) {
	t.Helper()
	ss, stop, err := fakesigstore.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	trusted := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := ss.TrustedRoot(trusted); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIGSTORE_ID_TOKEN", fakesigstore.Token(releaseJob, releaseOIDC))
	return ss, trusted
}

// Keyless signing: a Fulcio certificate for the job's identity, each
// signature logged in Rekor, Sigstore bundles attached as referrers.
// slimage's check and the real cosign CLI accept them; another identity,
// another Sigstore's trust, an unsigned image and an image carrying
// another's bundles are each refused by name.
func TestSignKeyless(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	host := loopbackRegistry(t)
	ss, trusted := startSigstore(t)
	dir := testkit.CopySample(t, "hello")
	push := func(tag, version string, signed bool) (*config.Config, string) {
		c := sampleConfig(t, cli, dir, func(c *config.Config) {
			c.Push, c.Version, c.FulcioURL, c.RekorURL = host+"/shop/hello:"+tag, version, ss.FulcioURL, ss.RekorURL
			if signed {
				c.Sign = "keyless"
			}
		})
		buildAll(t, cli, c)
		return c, c.Push
	}
	c, ref := push("1.0", "v1.0.0", true)
	var out strings.Builder
	if err := sign.Sign(context.Background(), sign.OptionsOf(c), &out); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"(index, keyless)", "sbom of linux/amd64 (keyless)", "provenance of linux/amd64 (keyless)"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("sign's output lacks %q:\n%s", w, out.String())
		}
	}
	// The index and its image signed, each image's two documents attested
	// about it and about the index: one log entry each.
	if n := ss.Entries(); n != 2+2*2 {
		t.Errorf("Rekor took %d entries, want 6", n)
	}

	trust := sign.Trust{Identity: releaseJob, Issuer: releaseOIDC, TrustedRoot: trusted}
	d, err := sign.Check(context.Background(), ref, trust, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	regexp := trust
	regexp.Identity, regexp.IdentityRegexp = "", `^release@shop\.example$`
	if _, err := sign.Check(context.Background(), ref, regexp, io.Discard); err != nil {
		t.Errorf("the identity as a regular expression: %v", err)
	}

	intruder := trust
	intruder.Identity = intruderMail
	_, err = sign.Check(context.Background(), ref, intruder, io.Discard)
	testkit.ErrorMentions(t, err, "no Sigstore bundle of "+d.DigestStr()+" verifies as signed by "+intruderMail)

	// Another Sigstore (a foreign CA and log) is not this one.
	other, _, err := fakesigstore.Start()
	if err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(t.TempDir(), "trusted_root.json")
	other.TrustedRoot(foreign)
	elsewhere := trust
	elsewhere.TrustedRoot = foreign
	_, err = sign.Check(context.Background(), ref, elsewhere, io.Discard)
	testkit.ErrorMentions(t, err, "no Sigstore bundle of "+d.DigestStr()+" verifies")

	_, unsigned := push("unsigned", "v1.0.1", false)
	_, err = sign.Check(context.Background(), unsigned, trust, io.Discard)
	testkit.ErrorMentions(t, err, "verifyImage "+unsigned, "has no Sigstore bundle")

	// The unsigned image carrying the signed one's bundles, as a copy that
	// moved them to another digest would.
	uref, _ := name.ParseReference(unsigned)
	bundles, _, err := cosign.GetBundles(context.Background(), d, &cosign.CheckOpts{})
	if err != nil {
		t.Fatal(err)
	}
	ud, err := ociremote.ResolveDigest(uref)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bundles {
		data, _ := protojson.Marshal(b.Bundle)
		if err := ociremote.WriteAttestationNewBundleFormat(ud, data, ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err = sign.Check(context.Background(), unsigned, trust, io.Discard)
	testkit.ErrorMentions(t, err, "no Sigstore bundle of "+ud.DigestStr()+" verifies", "about another image")

	// The real cosign CLI, as an admission controller's policy would run it.
	cosignCLI := lookCosign(t)
	for _, args := range [][]string{
		{"verify", ref},
		{"verify-attestation", "--type", sign.SBOMType, ref},
		{"verify-attestation", "--type", sign.ProvenanceType, ref},
		{"verify-attestation", "--type", sign.SignPredicateType, ref},
	} {
		args = append(args, "--new-bundle-format", "--trusted-root", trusted, "--insecure-ignore-sct",
			"--certificate-identity", releaseJob, "--certificate-oidc-issuer", releaseOIDC)
		if out, err := runCosign(t, cosignCLI, args...); err != nil {
			t.Errorf("cosign %s: %v\n%s", strings.Join(args[:2], " "), err, out)
		}
	}
}
