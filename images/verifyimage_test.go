package images_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/sign"
	"github.com/slimage/slimage/images/verify"
	"github.com/slimage/slimage/internal/testkit"
)

// cosignTag is where cosign keeps what is attached to digest: its .sig or
// .att tag.
func cosignTag(t *testing.T, repo name.Repository, digest, suffix string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(repo.String() + ":" + strings.Replace(digest, ":", "-", 1) + suffix)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// verifyImage of a registry reference: the signature and the attestations
// of the digest the tag names are checked, then exactly that digest is
// pulled and verified; an unsigned image, another key, a signature or an
// attestation about another image, and a tag moved after the check are
// each refused by name.
func TestVerifyImageFromRegistry(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	host := loopbackRegistry(t)
	key, pub := cosignKeys(t, "")
	_, otherPub := cosignKeys(t, "")
	t.Setenv(sign.PasswordVar, "")
	dir := testkit.CopySample(t, "hello")
	push := func(tag, version string) (*config.Config, string) {
		c := sampleConfig(t, cli, dir, func(c *config.Config) {
			c.Push, c.SignKey, c.Version = host+"/shop/hello:"+tag, key, version
			c.VerifyTLS, c.VerifyHealth = "off", "/healthz"
		})
		buildAll(t, cli, c)
		return c, c.Push
	}
	c, signed := push("1.0", "v1.0.0")
	if err := sign.Sign(context.Background(), sign.OptionsOf(c), io.Discard); err != nil {
		t.Fatal(err)
	}
	d, err := sign.Check(context.Background(), signed, sign.Trust{Key: pub}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	runs := verify.Pulled(context.Background(), c, signed, d.String(), io.Discard, io.Discard)
	if len(runs) != 1 || runs[0].Err != nil || !runs[0].Report.Passed || runs[0].Image != d.String() {
		t.Fatalf("verify of the pulled digest: %+v", runs)
	}

	_, unsigned := push("unsigned", "v1.0.1")
	_, err = sign.Check(context.Background(), unsigned, sign.Trust{Key: pub}, io.Discard)
	testkit.ErrorMentions(t, err, "verifyImage "+unsigned, "has no signature")

	_, err = sign.Check(context.Background(), signed, sign.Trust{Key: otherPub}, io.Discard)
	testkit.ErrorMentions(t, err, "no signature of "+d.DigestStr()+" verifies with SLIMAGE_VERIFY_KEY")

	// Another image carrying the signature, then the attestations, of the
	// signed one, as a copy between registries or a tampered tag would.
	c2, other := push("other", "v1.0.2")
	if err := sign.Sign(context.Background(), sign.OptionsOf(c2), io.Discard); err != nil {
		t.Fatal(err)
	}
	otherRef, _ := name.ParseReference(other)
	od, err := remote.Head(otherRef)
	if err != nil {
		t.Fatal(err)
	}
	copyTag := func(suffix string) {
		src, err := remote.Get(cosignTag(t, d.Repository, d.DigestStr(), suffix))
		if err != nil {
			t.Fatal(err)
		}
		img, err := src.Image()
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(cosignTag(t, d.Repository, od.Digest.String(), suffix), img); err != nil {
			t.Fatal(err)
		}
	}
	copyTag(".att")
	_, err = sign.Check(context.Background(), other, sign.Trust{Key: pub}, io.Discard)
	testkit.ErrorMentions(t, err, "no attestation of "+od.Digest.String(), "names it as its subject")
	copyTag(".sig")
	_, err = sign.Check(context.Background(), other, sign.Trust{Key: pub}, io.Discard)
	testkit.ErrorMentions(t, err, "no signature of "+od.Digest.String()+" verifies")

	// The tag moved after its signature was checked: what was verified is
	// not what it names now.
	c3, _ := push("1.0", "v1.0.3")
	runs = verify.Pulled(context.Background(), c3, signed, d.String(), io.Discard, io.Discard)
	last := runs[len(runs)-1]
	if last.Err == nil || !strings.Contains(last.Err.Error(), fmt.Sprintf("the tag moved from %s to", d.DigestStr())) {
		t.Errorf("a moved tag: %+v", runs)
	}
}

// An image that cosign itself signed and attested (cosign sign, cosign
// attest of the SBOM and the provenance) passes slimage's check: the two
// read and write the same formats.
func TestVerifyImageAcceptsCosignsOwnSignatures(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	cosignCLI := lookCosign(t)
	host := loopbackRegistry(t)
	key, pub := cosignKeys(t, "")
	t.Setenv(sign.PasswordVar, "")
	dir := testkit.CopySample(t, "hello")
	for _, tc := range []struct {
		name, version string
		flags         []string
	}{
		{"classic", "v1.0.0", nil},
		{"bundles", "v1.0.1", []string{"--new-bundle-format"}}, // what cosign v3 writes
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sampleConfig(t, cli, dir, func(c *config.Config) {
				c.Push, c.Version = host+"/shop/hello:by-cosign-"+tc.name, tc.version
			})
			buildAll(t, cli, c)
			ref, _ := name.ParseReference(c.Push)
			desc, err := remote.Head(ref)
			if err != nil {
				t.Fatal(err)
			}
			digest := ref.Context().Digest(desc.Digest.String()).String()
			// The provenance's predicate, as `cosign attest --predicate` takes it.
			statement, err := os.ReadFile(filepath.Join(c.Dist, "sbom", "linux_amd64.provenance.json"))
			if err != nil {
				t.Fatal(err)
			}
			var st struct {
				Predicate json.RawMessage `json:"predicate"`
			}
			if err := json.Unmarshal(statement, &st); err != nil {
				t.Fatal(err)
			}
			predicate := filepath.Join(t.TempDir(), "provenance.json")
			os.WriteFile(predicate, st.Predicate, 0o644)
			for _, args := range [][]string{
				{"sign", "--key", key, digest},
				{"attest", "--key", key, "--type", sign.SBOMType, "--predicate", filepath.Join(c.Dist, "sbom", "linux_amd64.cdx.json"), digest},
				{"attest", "--key", key, "--type", sign.ProvenanceType, "--predicate", predicate, digest},
			} {
				if out, err := runCosign(t, cosignCLI, append(append(args, tc.flags...), "--tlog-upload=false", "--yes")...); err != nil {
					t.Fatalf("cosign %s: %v\n%s", args[0], err, out)
				}
			}
			var out strings.Builder
			d, err := sign.Check(context.Background(), c.Push, sign.Trust{Key: pub}, &out)
			if err != nil || d.String() != digest {
				t.Errorf("slimage's check of cosign's signatures: %v %v", d, err)
			}
			if bundles := strings.Contains(out.String(), "in Sigstore bundles"); bundles != (tc.flags != nil) {
				t.Errorf("checked in Sigstore bundles: %v, want %v:\n%s", bundles, tc.flags != nil, out.String())
			}
		})
	}
}
