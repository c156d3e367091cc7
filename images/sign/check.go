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
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/slimage/slimage/internal/human"
)

// Check resolves ref (registry/repository:tag or @sha256:…) to a digest,
// once, and proves what the registry serves there is what slimage signed
// with the key whose public half is at pub: a signature of that digest,
// and an SBOM and a provenance attestation that verify and name that
// digest as their subject. It returns the digest: what verify then pulls,
// byte for byte.
func Check(ctx context.Context, ref, pub string, out io.Writer) (name.Digest, error) {
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
	verifier, err := signature.LoadVerifierFromPEMFile(pub, crypto.SHA256)
	if err != nil {
		return d, fmt.Errorf("verifyImage %s: read SLIMAGE_VERIFY_KEY %s: %v: give the public key (cosign.pub)", ref, human.Path(pub), err)
	}
	co := &cosign.CheckOpts{SigVerifier: verifier, IgnoreTlog: true, ClaimVerifier: cosign.SimpleClaimVerifier,
		RegistryClientOpts: []ociremote.Option{ociremote.WithRemoteOptions(opts...)}}
	if _, _, err := cosign.VerifyImageSignatures(ctx, d, co); err != nil {
		var none *cosign.ErrNoSignaturesFound
		if errors.As(err, &none) {
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
	var have []string
	for _, a := range atts {
		if t := predicateType(a); t != "" {
			have = append(have, t)
		}
	}
	for _, t := range []string{SBOMType, ProvenanceType} {
		if !slices.Contains(have, predicateURI(t)) {
			return d, fmt.Errorf("verifyImage %s: %s has no verified %s attestation (it has %v): sign it with slimage, which attests its SBOM and provenance", ref, d.DigestStr(), t, have)
		}
	}
	fmt.Fprintf(out, "verifyImage %s: %s is signed, with SBOM and provenance attestations about it (SLIMAGE_VERIFY_KEY)\n", ref, d.DigestStr())
	return d, nil
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
