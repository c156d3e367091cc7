package images_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/sign"
	"github.com/slimage/slimage/internal/testkit"
)

// cosignKeys writes a cosign key pair (encrypted with password, as `cosign
// generate-key-pair` writes it) and returns the key's and the public
// key's paths.
func cosignKeys(t testing.TB, password string) (key, pub string) {
	t.Helper()
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte(password), nil })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, pub = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	os.WriteFile(key, keys.PrivateBytes, 0o600)
	os.WriteFile(pub, keys.PublicBytes, 0o644)
	return key, pub
}

// image pushes the sample to a loopback registry, signed with key: the
// index, its image, and the SBOM and provenance as attestations.
func TestSignWithCosignKey(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	host := loopbackRegistry(t)
	key, pub := cosignKeys(t, "s3cret")
	t.Setenv(sign.PasswordVar, "s3cret")
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.Push, c.SignKey = host+"/shop/hello:1.0", key
	})
	buildAll(t, cli, c)
	var out bytes.Buffer
	if err := sign.Sign(context.Background(), sign.OptionsOf(c), &out); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"(index)", "(linux/amd64)", "sbom of linux/amd64", "provenance of linux/amd64"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("sign's output lacks %q:\n%s", w, out.String())
		}
	}
	// Signing again adds nothing: the same signature is found, the same
	// statements are replaced.
	if err := sign.Sign(context.Background(), sign.OptionsOf(c), io.Discard); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(c.Push)

	// cosign's own verification, in-process: the signature and both
	// attestations verify with the public key.
	verifier, err := signature.LoadVerifierFromPEMFile(pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	co := &cosign.CheckOpts{SigVerifier: verifier, IgnoreTlog: true, ClaimVerifier: cosign.SimpleClaimVerifier,
		RegistryClientOpts: []ociremote.Option{}}
	if sigs, _, err := cosign.VerifyImageSignatures(context.Background(), ref, co); err != nil || len(sigs) != 1 {
		t.Errorf("cosign.VerifyImageSignatures: %d, %v", len(sigs), err)
	}
	co.ClaimVerifier = cosign.IntotoSubjectClaimVerifier
	if atts, _, err := cosign.VerifyImageAttestations(context.Background(), ref, co); err != nil || len(atts) != 2 {
		t.Errorf("cosign.VerifyImageAttestations: %d, %v", len(atts), err)
	}
	// Another key's public key does not verify it.
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	co.SigVerifier, _ = signature.LoadECDSAVerifier(&other.PublicKey, crypto.SHA256)
	co.ClaimVerifier = cosign.SimpleClaimVerifier
	if _, _, err := cosign.VerifyImageSignatures(context.Background(), ref, co); err == nil {
		t.Error("another key's public key verified the signature")
	}

	// The real cosign CLI, as an admission controller's policy would run it.
	cosignCLI := lookCosign(t)
	for _, args := range [][]string{
		{"verify", "--key", pub, ref.String()},
		{"verify-attestation", "--key", pub, "--type", sign.SBOMType, ref.String()},
		{"verify-attestation", "--key", pub, "--type", sign.ProvenanceType, ref.String()},
		// The same as Sigstore bundles (cosign v3's default).
		{"verify-attestation", "--new-bundle-format", "--key", pub, "--type", sign.SBOMType, ref.String()},
		{"verify-attestation", "--new-bundle-format", "--key", pub, "--type", sign.ProvenanceType, ref.String()},
		{"verify-attestation", "--new-bundle-format", "--key", pub, "--type", sign.SignPredicateType, ref.String()},
	} {
		// cosign reads the bundles when there are (and then wants a trusted
		// root, which online it fetches from Sigstore).
		args = append(args, "--insecure-ignore-tlog=true", "--trusted-root", emptyTrustedRoot(t))
		if out, err := runCosign(t, cosignCLI, args...); err != nil {
			t.Errorf("cosign %s: %v\n%s", strings.Join(args[:2], " "), err, out)
		}
	}
}

// An unencrypted PEM private key signs too, and an encrypted one without
// its password is refused by name.
func TestSignKeys(t *testing.T) {
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(pk)
	plain := filepath.Join(t.TempDir(), "key.pem")
	os.WriteFile(plain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	none := func(string) (string, bool) { return "", false }
	if _, err := sign.LoadKey(context.Background(), plain, none); err != nil {
		t.Errorf("a PEM private key: %v", err)
	}
	key, _ := cosignKeys(t, "s3cret")
	_, err = sign.LoadKey(context.Background(), key, none)
	testkit.ErrorMentions(t, err, "is encrypted: set COSIGN_PASSWORD")
	_, err = sign.LoadKey(context.Background(), key, func(string) (string, bool) { return "wrong", true })
	testkit.ErrorMentions(t, err, "SLIMAGE_SIGN_KEY", "check COSIGN_PASSWORD")
	if _, err := sign.LoadKey(context.Background(), key, func(string) (string, bool) { return "s3cret", true }); err != nil {
		t.Errorf("the cosign key with its password: %v", err)
	}
}

// lookCosign finds the cosign CLI (.ci/run installs it): a test that
// needs it is skipped without it, and fails under CI.
func lookCosign(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("cosign")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the cosign CLI is not on PATH (.ci/run installs it): %v", err)
		}
		t.Skipf("the cosign CLI is not on PATH: %v", err)
	}
	return p
}

// runCosign runs the cosign CLI against a loopback registry (plain HTTP),
// in a home folder of its own. Everything it would send elsewhere (Sigstore's
// TUF repository, Rekor) goes to a proxy on loopback that is not there:
// tests reach nothing but loopback.
func runCosign(t testing.TB, cosignCLI string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(cosignCLI, append(args, "--allow-http-registry=true")...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1,localhost")
	return cmd.CombinedOutput()
}

// emptyTrustedRoot is a Sigstore trusted root that trusts no CA and no
// log: what cosign needs to check key-based Sigstore bundles offline.
func emptyTrustedRoot(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trusted_root.json")
	os.WriteFile(p, []byte(`{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644)
	return p
}

// The targets as a release job runs them: mage image pushes to a loopback
// registry and signs what it pushed (slimage-sign, built on first use),
// with a key or keyless; mage verifyImage, trusting that key or that
// identity, checks what the registry serves and verifies exactly that
// digest.
func TestSignedReleaseThroughMage(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	host := loopbackRegistry(t)
	mage := testkit.Mage(t)
	key, pub := cosignKeys(t, "s3cret")
	ss, trusted := startSigstore(t)
	for _, tc := range []struct {
		name         string
		sign, verify []string // the settings of the release job, and of the gate
		signed       string   // what verifyImage says it checked
	}{
		{"key", []string{"SLIMAGE_SIGN_KEY=" + key, sign.PasswordVar + "=s3cret"}, []string{"SLIMAGE_VERIFY_KEY=" + pub},
			"(SLIMAGE_VERIFY_KEY)"},
		{"keyless", []string{"SLIMAGE_SIGN=keyless", "SLIMAGE_FULCIO_URL=" + ss.FulcioURL, "SLIMAGE_REKOR_URL=" + ss.RekorURL},
			[]string{"SLIMAGE_VERIFY_IDENTITY=" + releaseJob, "SLIMAGE_VERIFY_ISSUER=" + releaseOIDC, "SLIMAGE_TRUSTED_ROOT=" + trusted},
			"is signed by " + releaseJob + " (issuer " + releaseOIDC + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, local := host+"/shop/hello:release-"+tc.name, "slimage-test/hello:signed-release"
			t.Cleanup(func() { removeImage(cli, local) })
			env := append(os.Environ(), "SLIMAGE_DIST="+t.TempDir(), "SLIMAGE_IMAGE="+local, "SLIMAGE_VERSION=v1.0.0-"+tc.name,
				"SLIMAGE_PUSH="+ref, "SLIMAGE_VERIFY_TLS=off", "MAGEFILE_CACHE="+t.TempDir())
			run := func(env []string, args ...string) string {
				cmd := exec.Command(mage, args...)
				cmd.Dir, cmd.Env = testkit.RepoRoot(t), env
				return testkit.Run(t, cmd)
			}
			out := run(append(env, tc.sign...), "image")
			for _, w := range []string{"sign " + host + "/shop/hello@sha256:", "(index", "sbom of linux/"} {
				if !strings.Contains(out, w) {
					t.Errorf("mage image lacks %q:\n%s", w, out)
				}
			}
			out = run(append(env, tc.verify...), "verifyImage", ref)
			for _, w := range []string{tc.signed, "with SBOM and provenance attestations about it", "pulled by digest"} {
				if !strings.Contains(out, w) {
					t.Errorf("mage verifyImage lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// A key held in a KMS: sigstore's KMS plugin protocol, with a plugin built
// for the test onto PATH (sigstore-kms-slimagetest, which holds the key
// and only signs with it), as a vendor's HSM plugin would be. slimage
// signs through it; its check and the cosign CLI verify with the public
// key, and through the plugin too.
func TestSignWithKMSPlugin(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	host := loopbackRegistry(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./testdata/sigstore-kms-slimagetest")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	testkit.Run(t, build)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(pk)
	pubDER, _ := x509.MarshalPKIXPublicKey(&pk.PublicKey)
	dir := t.TempDir()
	keyFile, pub := filepath.Join(dir, "held.pem"), filepath.Join(dir, "held.pub")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
	held := "slimagetest://" + keyFile

	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.Push, c.SignKey = host+"/shop/hello:kms", held
	})
	buildAll(t, cli, c)
	if err := sign.Sign(context.Background(), sign.OptionsOf(c), io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{pub, held} {
		if _, err := sign.Check(context.Background(), c.Push, sign.Trust{Key: key}, io.Discard); err != nil {
			t.Errorf("check with %s: %v", key, err)
		}
	}
	cosignCLI := lookCosign(t)
	for _, key := range []string{pub, held} {
		args := []string{"verify", "--key", key, "--insecure-ignore-tlog=true", "--trusted-root", emptyTrustedRoot(t), c.Push}
		if out, err := runCosign(t, cosignCLI, args...); err != nil {
			t.Errorf("cosign verify --key %s: %v\n%s", key, err, out)
		}
	}
}
