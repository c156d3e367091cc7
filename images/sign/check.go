package sign

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/human"
)

// Trust is what verifyImage accepts as the signer: a public key, or a
// keyless identity (exact or a regular expression) with its OIDC issuer,
// certified by the Fulcio and logged in the Rekor of a Sigstore trusted
// root (a file, or the public instance's through TUF).
type Trust struct {
	Key                      string
	Identity, IdentityRegexp string
	Issuer                   string
	TrustedRoot              string
}

// TrustOf translates c's settings for Check.
func TrustOf(c *config.Config) Trust {
	return Trust{Key: c.VerifyKey, Identity: c.VerifyIdentity, IdentityRegexp: c.VerifyIdentityRegexp,
		Issuer: c.VerifyIssuer, TrustedRoot: c.TrustedRoot}
}

// Check resolves ref (registry/repository:tag or @sha256:…) to a digest,
// once, and proves what the registry serves there is what slimage signed
// as t trusts: a signature of that digest, and an SBOM and a provenance
// attestation that verify and name that digest as their subject. It
// returns the digest: what verify then pulls, byte for byte.
func Check(ctx context.Context, ref string, t Trust, out io.Writer) (name.Digest, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return name.Digest{}, fmt.Errorf("verifyImage %s: %v: write registry/repository:tag or registry/repository@sha256:…", ref, err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	desc, err := remote.Head(r, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("verifyImage %s: resolve it in the registry: %v: check the reference, and that you may pull it (docker login %s)", ref, err, r.Context().RegistryStr())
	}
	d := r.Context().Digest(desc.Digest.String())
	ociOpts := []ociremote.Option{ociremote.WithRemoteOptions(opts...)}
	if t.Key == "" {
		return d, checkKeyless(ctx, ref, d, t, ociOpts, out)
	}
	verifier, err := loadVerifier(ctx, t.Key)
	if err != nil {
		return d, fmt.Errorf("verifyImage %s: %v", ref, err)
	}
	co := &cosign.CheckOpts{SigVerifier: verifier, IgnoreTlog: true, ClaimVerifier: cosign.SimpleClaimVerifier,
		RegistryClientOpts: ociOpts}
	if _, _, err := cosign.VerifyImageSignatures(ctx, d, co); err != nil {
		var none *cosign.ErrNoSignaturesFound
		if errors.As(err, &none) {
			// Signed as cosign v3 (or --new-bundle-format) signs: bundles only.
			bundled := &cosign.CheckOpts{SigVerifier: verifier, IgnoreTlog: true, NewBundleFormat: true,
				TrustedMaterial: &root.BaseTrustedMaterial{}, RegistryClientOpts: ociOpts}
			if found, err := checkBundles(ctx, ref, d, bundled, "SLIMAGE_VERIFY_KEY", "SLIMAGE_SIGN_KEY"); found {
				if err == nil {
					fmt.Fprintf(out, "verifyImage %s: %s is signed, with SBOM and provenance attestations about it, in Sigstore bundles (SLIMAGE_VERIFY_KEY)\n", ref, d.DigestStr())
				}
				return d, err
			}
			return d, fmt.Errorf("verifyImage %s: %s has no signature: sign it (SLIMAGE_SIGN_KEY, or cosign sign) before it is deployed", ref, d.DigestStr())
		}
		return d, fmt.Errorf("verifyImage %s: no signature of %s verifies with SLIMAGE_VERIFY_KEY (%s): it was signed with another key, or changed after signing", ref, d.DigestStr(), short(err))
	}
	co.ClaimVerifier = cosign.IntotoSubjectClaimVerifier
	atts, _, err := cosign.VerifyImageAttestations(ctx, d, co)
	if err != nil {
		var none *cosign.ErrNoSignaturesFound
		if errors.As(err, &none) {
			return d, fmt.Errorf("verifyImage %s: %s has no attestations: sign it with slimage (SLIMAGE_SIGN_KEY), which attests its SBOM and provenance", ref, d.DigestStr())
		}
		return d, fmt.Errorf("verifyImage %s: no attestation of %s verifies with SLIMAGE_VERIFY_KEY and names it as its subject (%s): an attestation of another image, or another key's", ref, d.DigestStr(), short(err))
	}
	if err := hasDocuments(ref, d, predicateTypes(atts), "SLIMAGE_SIGN_KEY"); err != nil {
		return d, err
	}
	fmt.Fprintf(out, "verifyImage %s: %s is signed, with SBOM and provenance attestations about it (SLIMAGE_VERIFY_KEY)\n", ref, d.DigestStr())
	return d, nil
}

// loadVerifier reads a public key file (cosign.pub), or reaches a key held
// in a KMS for its public half.
func loadVerifier(ctx context.Context, key string) (signature.Verifier, error) {
	if config.KeyURI(key) {
		sv, err := kms.Get(ctx, key, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("reach SLIMAGE_VERIFY_KEY %s: %v: check the key's URI, and the KMS's credentials in the environment", key, err)
		}
		return sv, nil
	}
	v, err := signature.LoadVerifierFromPEMFile(key, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("read SLIMAGE_VERIFY_KEY %s: %v: give the public key (cosign.pub)", human.Path(key), err)
	}
	return v, nil
}

// checkKeyless checks d's Sigstore bundles as `cosign verify-attestation
// --new-bundle-format` does: each must verify against the trusted root,
// with a certificate for t's identity and issuer and a transparency log
// entry, and name d as its subject. Among those, a signature and the
// SBOM and provenance.
func checkKeyless(ctx context.Context, ref string, d name.Digest, t Trust, opts []ociremote.Option, out io.Writer) error {
	tm, err := trustedRoot(t.TrustedRoot)
	if err != nil {
		return fmt.Errorf("verifyImage %s: %v", ref, err)
	}
	who := t.Identity
	if who == "" {
		who = "~" + t.IdentityRegexp
	}
	who += " (issuer " + t.Issuer + ")"
	co := &cosign.CheckOpts{TrustedMaterial: tm, NewBundleFormat: true, RegistryClientOpts: opts,
		Identities: []cosign.Identity{{Subject: t.Identity, SubjectRegExp: t.IdentityRegexp, Issuer: t.Issuer}},
		// A private Sigstore without certificate transparency logs
		// issues certificates without SCTs; the public one always has them.
		IgnoreSCT: len(tm.CTLogs()) == 0}
	found, err := checkBundles(ctx, ref, d, co, who, "SLIMAGE_SIGN=keyless")
	if !found {
		return fmt.Errorf("verifyImage %s: %s has no Sigstore bundle: sign it keyless (SLIMAGE_SIGN=keyless, or cosign sign --new-bundle-format) before it is deployed", ref, d.DigestStr())
	}
	if err == nil {
		fmt.Fprintf(out, "verifyImage %s: %s is signed by %s, with SBOM and provenance attestations about it, logged in Rekor\n", ref, d.DigestStr(), who)
	}
	return err
}

// checkBundles checks d's Sigstore bundles with co (a key, or a trusted
// root and an identity: who): they must verify and name d as their
// subject, and hold a signature and the SBOM and provenance attestations.
// found says whether d has bundles at all.
func checkBundles(ctx context.Context, ref string, d name.Digest, co *cosign.CheckOpts, who, how string) (found bool, err error) {
	atts, _, err := cosign.VerifyImageAttestations(ctx, d, co)
	if err != nil {
		// None verified: were there any? (Asked only now: the registry is
		// read once on the way that passes.)
		var none *cosign.ErrNoMatchingAttestations
		if _, _, err := cosign.GetBundles(ctx, d, co); errors.As(err, &none) {
			return false, nil
		}
		return true, fmt.Errorf("verifyImage %s: no Sigstore bundle of %s verifies as signed by %s about it (%s): it was signed by another, or about another image, or changed after signing", ref, d.DigestStr(), who, short(err))
	}
	have := predicateTypes(atts)
	if !slices.Contains(have, SignPredicateType) {
		return true, fmt.Errorf("verifyImage %s: %s has attestations but no signature by %s: sign it (%s)", ref, d.DigestStr(), who, how)
	}
	return true, hasDocuments(ref, d, have, how)
}

// hasDocuments checks that the verified attestations' predicate types
// (have) hold an SBOM and a provenance.
func hasDocuments(ref string, d name.Digest, have []string, how string) error {
	for _, t := range []string{SBOMType, ProvenanceType} {
		if !slices.Contains(have, predicateURI(t)) {
			return fmt.Errorf("verifyImage %s: %s has no verified %s attestation (it has %v): sign it with slimage (%s), which attests its SBOM and provenance", ref, d.DigestStr(), t, have, how)
		}
	}
	return nil
}

// predicateTypes are the predicate types of the statements in atts.
func predicateTypes(atts []oci.Signature) []string {
	var have []string
	for _, a := range atts {
		if t := predicateType(a); t != "" {
			have = append(have, t)
		}
	}
	return have
}

// trustedRoot reads a Sigstore trusted root file, or, with none named,
// fetches the public instance's through its TUF repository.
func trustedRoot(path string) (root.TrustedMaterial, error) {
	if path != "" {
		tr, err := root.NewTrustedRootFromPath(path)
		if err != nil {
			return nil, fmt.Errorf("read SLIMAGE_TRUSTED_ROOT %s: %v: give Sigstore's trusted_root.json", human.Path(path), err)
		}
		return tr, nil
	}
	tr, err := root.FetchTrustedRoot()
	if err != nil {
		return nil, fmt.Errorf("fetch Sigstore's trusted root (tuf-repo-cdn.sigstore.dev): %v: check the network, or give a copy in SLIMAGE_TRUSTED_ROOT", err)
	}
	return tr, nil
}

// predicateType is the predicate type of the statement in an attestation.
func predicateType(att oci.Signature) string {
	p, err := att.Payload()
	if err != nil {
		return ""
	}
	var envelope struct {
		Payload []byte `json:"payload"`
	}
	var statement struct {
		PredicateType string `json:"predicateType"`
	}
	if json.Unmarshal(p, &envelope) != nil || json.Unmarshal(envelope.Payload, &statement) != nil {
		return ""
	}
	return statement.PredicateType
}

// short is an error's text on one line, bounded.
func short(err error) string {
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "; ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
