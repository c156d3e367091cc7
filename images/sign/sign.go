// Package sign signs what the image step (or merge) pushed, in the formats
// cosign writes and verifies, with cosign's and sigstore's own libraries.
//
// With a key: a signature of the index and of each platform's manifest
// (cosign's simple-signing payload, stored under the sha256-<hex>.sig
// tag), and the SBOM and the provenance each platform's image carries as
// referrers, signed as in-toto attestations (DSSE envelopes, under .att)
// of the CycloneDX and SLSA provenance v1 predicate types; and the same
// signatures and attestations again as Sigstore bundles attached as OCI
// 1.1 referrers, the format cosign v3 writes and reads by default.
//
// Keyless: the bundles only, each signed with an ephemeral key certified
// by Fulcio for the CI job's OIDC identity and logged in Rekor.
//
// It is the engine command slimage-sign's alone: those libraries are
// several hundred packages that a run which does not sign never compiles.
package sign

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"
	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/provenance"
	"github.com/slimage/slimage/images/sbom"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/manifests"
)

// PasswordVar holds the password of an encrypted cosign key, as cosign
// reads it.
const PasswordVar = "COSIGN_PASSWORD"

// Options are what signing reads: the key, or keyless signing's two
// services, and the output folder whose push record names what to sign.
type Options struct {
	Key     string // a cosign key file, or a PEM private key
	Keyless bool   // a Fulcio certificate for the job's OIDC identity instead
	Fulcio  string // Fulcio's URL
	Rekor   string // Rekor's URL
	Dist    string
}

// OptionsOf translates c's settings for signing.
func OptionsOf(c *config.Config) Options {
	return Options{Key: c.SignKeyPath(), Keyless: c.Sign == "keyless", Fulcio: c.FulcioURL, Rekor: c.RekorURL, Dist: c.Dist}
}

// The predicate types of the attestations, as `cosign attest --type` and
// `cosign verify-attestation --type` name them.
const (
	SBOMType       = "cyclonedx"
	ProvenanceType = "slsaprovenance1"
)

// Sign signs what o.Dist's push record names: the index, each platform's
// manifest, and their SBOM and provenance as attestations. out gets a
// line per signature and attestation.
func Sign(ctx context.Context, o Options, out io.Writer) error {
	s := &signer{out: out}
	if o.Keyless {
		b, err := newKeyless(ctx, o)
		if err != nil {
			return err
		}
		s.bundler = b
	} else {
		sv, err := LoadKey(ctx, o.Key, os.LookupEnv)
		if err != nil {
			return err
		}
		if s.bundler, err = newKeyBundler(ctx, sv); err != nil {
			return fmt.Errorf("sign: SLIMAGE_SIGN_KEY %s: %v", o.Key, err)
		}
		s.sv, s.dd = sv, cremote.NewDupeDetector(sv)
	}
	pushed, err := manifests.ReadPushed(o.Dist)
	if err != nil {
		return fmt.Errorf("sign: read what was pushed (%s): %v: sign runs after image pushes (SLIMAGE_PUSH) or merge", human.Path(filepath.Join(o.Dist, config.PushedRecord)), err)
	}
	ref, err := name.ParseReference(pushed.Ref)
	if err != nil {
		return fmt.Errorf("sign %s: %v", pushed.Ref, err)
	}
	index := ref.Context().Digest(pushed.Digest)
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	idx, err := remote.Index(index, opts...)
	if err != nil {
		return fmt.Errorf("sign %s: read the pushed index: %v: check that the registry answers (docker login %s)", index, err, ref.Context().RegistryStr())
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("sign %s: %w", index, err)
	}
	s.claimed, s.remote = pushed.Ref, opts
	s.opts = []ociremote.Option{ociremote.WithRemoteOptions(opts...)}
	if err := s.signature(index, "index"); err != nil {
		return err
	}
	for _, m := range im.Manifests {
		d := ref.Context().Digest(m.Digest.String())
		platform := "(no platform)"
		if m.Platform != nil {
			platform = m.Platform.String()
		}
		if err := s.signature(d, platform); err != nil {
			return err
		}
		docs, err := s.documents(d)
		if err != nil {
			return err
		}
		// Each platform's documents, about its own image, and again about
		// the index, where `cosign verify-attestation <tag>` looks.
		for _, at := range []name.Digest{d, index} {
			for _, doc := range docs {
				if err := s.attestation(at, platform, doc); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// LoadKey reads a key file: a cosign key (encrypted with the password in
// COSIGN_PASSWORD, as `cosign generate-key-pair` writes it) or an
// unencrypted PEM private key (ECDSA, Ed25519 or RSA); or reaches a key
// held in a KMS (awskms://, gcpkms://, azurekms://, hashivault://, as
// cosign names them) through sigstore's providers, which slimage-sign-kms
// links in, or in a KMS plugin (<name>://, sigstore-kms-<name> on PATH).
// lookup reads the environment.
func LoadKey(ctx context.Context, path string, lookup func(string) (string, bool)) (signature.SignerVerifier, error) {
	if config.KeyURI(path) {
		sv, err := kms.Get(ctx, path, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("sign: SLIMAGE_SIGN_KEY %s: %v: check the key's URI, and the KMS's credentials in the environment, as cosign reads them", path, err)
		}
		return sv, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sign: read SLIMAGE_SIGN_KEY: %v", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("sign: SLIMAGE_SIGN_KEY %s is not a PEM key: give cosign's cosign.key or a PEM private key", path)
	}
	switch block.Type {
	case cosign.SigstorePrivateKeyPemType, cosign.CosignPrivateKeyPemType:
		pass, ok := lookup(PasswordVar)
		if !ok {
			return nil, fmt.Errorf("sign: SLIMAGE_SIGN_KEY %s is encrypted: set %s to its password (empty if it has none)", path, PasswordVar)
		}
		sv, err := cosign.LoadPrivateKey(data, []byte(pass), nil)
		if err != nil {
			return nil, fmt.Errorf("sign: SLIMAGE_SIGN_KEY %s: %v: check %s", path, err, PasswordVar)
		}
		return sv, nil
	}
	pk, err := cryptoutils.UnmarshalPEMToPrivateKey(data, cryptoutils.SkipPassword)
	if err != nil {
		return nil, fmt.Errorf("sign: SLIMAGE_SIGN_KEY %s: %v: give cosign's cosign.key or an unencrypted PEM private key", path, err)
	}
	sv, err := signature.LoadSignerVerifier(pk, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: SLIMAGE_SIGN_KEY %s: %v", path, err)
	}
	return sv, nil
}

type signer struct {
	sv      signature.SignerVerifier // with a key: classic signatures too
	dd      mutate.DupeDetector
	bundler *bundler // Sigstore bundles, keyless or with the key
	claimed string   // the reference the signatures claim: the pushed tag
	opts    []ociremote.Option
	remote  []remote.Option
	out     io.Writer
}

// signature signs d as `cosign sign --key` does, without a transparency
// log entry, and stores it where cosign looks.
func (s *signer) signature(d name.Digest, what string) error {
	if err := s.bundler.signature(d, s.opts); err != nil {
		return err
	}
	if s.sv == nil {
		fmt.Fprintf(s.out, "sign %s (%s, keyless)\n", d, what)
		return nil
	}
	payload, err := (&sigpayload.Cosign{Image: d, ClaimedIdentity: s.claimed}).MarshalJSON()
	if err != nil {
		return err
	}
	sig, err := s.sv.SignMessage(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("sign %s: %w", d, err)
	}
	ociSig, err := static.NewSignature(payload, encode(sig))
	if err != nil {
		return err
	}
	se, err := ociremote.SignedEntity(d, s.opts...)
	if err != nil {
		return fmt.Errorf("sign %s: %w", d, err)
	}
	signed, err := mutate.AttachSignatureToEntity(se, ociSig, mutate.WithDupeDetector(s.dd))
	if err != nil {
		return err
	}
	if err := ociremote.WriteSignatures(d.Repository, signed, s.opts...); err != nil {
		return fmt.Errorf("sign %s: write the signature: %v", d, err)
	}
	fmt.Fprintf(s.out, "sign %s (%s)\n", d, what)
	return nil
}

// document is an SBOM or a provenance, as a predicate of its type.
type document struct {
	kind, predicateType string
	predicate           []byte
}

// documents are the SBOM and provenance the image step attached to d as
// referrers: the provenance's predicate is lifted out of its statement.
func (s *signer) documents(d name.Digest) ([]document, error) {
	idx, err := remote.Referrers(d, s.remote...)
	if err != nil {
		return nil, fmt.Errorf("sign %s: list its referrers: %v", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var docs []document
	for _, r := range im.Manifests {
		var kind, ptype string
		switch r.ArtifactType {
		case sbom.MediaType:
			kind, ptype = "sbom", SBOMType
		case provenance.MediaType:
			kind, ptype = "provenance", ProvenanceType
		default:
			continue
		}
		data, err := s.artifact(d.Context().Digest(r.Digest.String()))
		if err != nil {
			return nil, fmt.Errorf("sign %s: read its %s: %v", d, kind, err)
		}
		if kind == "provenance" {
			var statement struct {
				Predicate json.RawMessage `json:"predicate"`
			}
			if err := json.Unmarshal(data, &statement); err != nil || len(statement.Predicate) == 0 {
				return nil, fmt.Errorf("sign %s: its provenance is not an in-toto statement: %v", d, err)
			}
			data = statement.Predicate
		}
		docs = append(docs, document{kind: kind, predicateType: ptype, predicate: data})
	}
	if len(docs) < 2 {
		return nil, fmt.Errorf("sign %s: the registry holds %d of its SBOM and provenance referrers: push with this slimage's image step, which attaches both", d, len(docs))
	}
	return docs, nil
}

// artifact is the one layer of the artifact manifest at d.
func (s *signer) artifact(d name.Digest) ([]byte, error) {
	desc, err := remote.Get(d, s.remote...)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, err
	}
	if len(m.Layers) != 1 {
		return nil, errors.New("not a one-layer artifact")
	}
	l, err := remote.Layer(d.Context().Digest(m.Layers[0].Digest.String()), s.remote...)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 64<<20))
}

// attestation signs doc about d as `cosign attest --key --type` does
// (an in-toto statement in a DSSE envelope, no transparency log entry),
// and stores it where `cosign verify-attestation` looks.
func (s *signer) attestation(d name.Digest, platform string, doc document) error {
	statement, err := attestation.GenerateStatement(attestation.GenerateOpts{
		Predicate: bytes.NewReader(doc.predicate), Type: doc.predicateType,
		Digest: d.DigestStr()[len("sha256:"):], Repo: d.Repository.String(),
	})
	if err != nil {
		return fmt.Errorf("attest %s %s: %w", d, doc.kind, err)
	}
	payload, err := json.Marshal(statement)
	if err != nil {
		return err
	}
	if err := s.bundler.attestation(d, doc, payload, s.opts); err != nil {
		return err
	}
	if s.sv == nil {
		fmt.Fprintf(s.out, "attest %s %s of %s (keyless)\n", d, doc.kind, platform)
		return nil
	}
	envelope, err := dsse.WrapSigner(s.sv, ctypes.IntotoPayloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("attest %s %s: %w", d, doc.kind, err)
	}
	att, err := static.NewAttestation(envelope, static.WithLayerMediaType(ctypes.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": predicateURI(doc.predicateType)}))
	if err != nil {
		return err
	}
	var se oci.SignedEntity = ociremote.SignedUnknown(d, s.opts...)
	attested, err := mutate.AttachAttestationToEntity(se, att, mutate.WithReplaceOp(sameStatement{payload}))
	if err != nil {
		return err
	}
	if err := ociremote.WriteAttestations(d.Repository, attested, s.opts...); err != nil {
		return fmt.Errorf("attest %s %s: write the attestation: %v", d, doc.kind, err)
	}
	fmt.Fprintf(s.out, "attest %s %s of %s\n", d, doc.kind, platform)
	return nil
}

// predicateURI is the predicate type's URI, which cosign puts in the
// attestation's annotations.
func predicateURI(t string) string {
	return map[string]string{SBOMType: "https://cyclonedx.org/bom", ProvenanceType: "https://slsa.dev/provenance/v1"}[t]
}

func encode(sig []byte) string { return base64.StdEncoding.EncodeToString(sig) }

// sameStatement replaces an earlier attestation of the very statement a
// new one signs (the same document about the same image: a run again),
// and keeps every other (the other platforms' documents, other
// predicates). A DSSE envelope's signature differs on each signing, so
// cosign's duplicate detector, which compares envelopes, would keep both.
type sameStatement struct{ statement []byte }

func (r sameStatement) Replace(existing oci.Signatures, att oci.Signature) (oci.Signatures, error) {
	atts, err := existing.Get()
	if err != nil {
		return nil, err
	}
	kept := []oci.Signature{att}
	for _, a := range atts {
		if p, err := a.Payload(); err == nil {
			var envelope struct {
				Payload []byte `json:"payload"` // base64 in JSON
			}
			if json.Unmarshal(p, &envelope) == nil && bytes.Equal(envelope.Payload, r.statement) {
				continue
			}
		}
		kept = append(kept, a)
	}
	return &replaced{Signatures: existing, atts: kept}, nil
}

// replaced is existing attestations with some replaced, as mutate reads
// them.
type replaced struct {
	oci.Signatures
	atts []oci.Signature
}

func (r *replaced) Get() ([]oci.Signature, error) { return r.atts, nil }
