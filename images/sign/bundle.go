package sign

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	intotov1 "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/providers"
	_ "github.com/sigstore/cosign/v2/pkg/providers/envvar" // SIGSTORE_ID_TOKEN (GitLab's id_tokens, any CI)
	_ "github.com/sigstore/cosign/v2/pkg/providers/github" // GitHub Actions' token, with id-token: write
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
)

// SignPredicateType is the predicate of a signature's statement in a
// Sigstore bundle: cosign's own for an image signature.
const SignPredicateType = ctypes.CosignSignPredicateType

// bundler signs statements into Sigstore bundles (v0.3, DSSE envelopes)
// with sigstore-go and attaches each to its image as an OCI 1.1 referrer:
// what `cosign sign --new-bundle-format` and `cosign attest
// --new-bundle-format` write (and cosign v3 by default), and what cosign,
// sigstore-go and the admission controllers built on them verify. A
// signature is a statement of cosign's sign predicate about the digest;
// an attestation, the SBOM's or provenance's statement.
//
// Keyless, it signs with an ephemeral key and a short-lived Fulcio
// certificate for the CI job's OIDC identity, and logs each signature in
// Rekor; with a key, it signs with the key and logs nothing, as the
// classic signatures beside them.
type bundler struct {
	keypair sgsign.Keypair
	opts    sgsign.BundleOptions
}

func newKeyless(ctx context.Context, o Options) (*bundler, error) {
	if !providers.Enabled(ctx) {
		return nil, fmt.Errorf("sign keyless: no OIDC token here: in GitHub Actions give the job `permissions: id-token: write`; in GitLab CI, `id_tokens: SIGSTORE_ID_TOKEN: aud: sigstore`; elsewhere set SIGSTORE_ID_TOKEN")
	}
	token, err := providers.Provide(ctx, "sigstore")
	if err != nil {
		return nil, fmt.Errorf("sign keyless: get the job's OIDC token: %v: check that the job may ask for one (GitHub: id-token: write)", err)
	}
	kp, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, err
	}
	return &bundler{keypair: kp, opts: sgsign.BundleOptions{
		Context:                    ctx,
		CertificateProvider:        &onceCertificate{url: o.Fulcio, p: sgsign.NewFulcio(&sgsign.FulcioOptions{BaseURL: o.Fulcio, Retries: 1})},
		CertificateProviderOptions: &sgsign.CertificateProviderOptions{IDToken: token},
		TransparencyLogs:           []sgsign.Transparency{&logged{url: o.Rekor, t: sgsign.NewRekor(&sgsign.RekorOptions{BaseURL: o.Rekor, Retries: 1})}},
	}}, nil
}

func newKeyBundler(ctx context.Context, sv signature.SignerVerifier) (*bundler, error) {
	kp, err := newKeypair(sv)
	if err != nil {
		return nil, err
	}
	return &bundler{keypair: kp, opts: sgsign.BundleOptions{Context: ctx}}, nil
}

// signature signs d as `cosign sign --new-bundle-format` does: a
// statement of cosign's sign predicate about d.
func (b *bundler) signature(d name.Digest, opts []remote.Option) error {
	alg, hex, _ := strings.Cut(d.DigestStr(), ":")
	statement, err := protojson.Marshal(&intotov1.Statement{
		Type:          intotov1.StatementTypeUri,
		Subject:       []*intotov1.ResourceDescriptor{{Digest: map[string]string{alg: hex}}},
		PredicateType: SignPredicateType,
	})
	if err != nil {
		return err
	}
	if err := b.attach(d, statement, SignPredicateType, opts); err != nil {
		return fmt.Errorf("sign %s: %v", d, err)
	}
	return nil
}

// attestation signs an SBOM's or provenance's statement about d.
func (b *bundler) attestation(d name.Digest, doc document, statement []byte, opts []remote.Option) error {
	if err := b.attach(d, statement, predicateURI(doc.predicateType), opts); err != nil {
		return fmt.Errorf("attest %s %s: %v", d, doc.kind, err)
	}
	return nil
}

// attach signs statement into a Sigstore bundle and attaches it to d.
func (b *bundler) attach(d name.Digest, statement []byte, predicateType string, opts []remote.Option) error {
	bundle, err := sgsign.Bundle(&sgsign.DSSEData{Data: statement, PayloadType: ctypes.IntotoPayloadType}, b.keypair, b.opts)
	if err != nil {
		return err
	}
	data, err := protojson.Marshal(bundle)
	if err != nil {
		return err
	}
	if err := remote.WriteAttestationNewBundleFormat(d, data, predicateType, opts...); err != nil {
		return fmt.Errorf("write its Sigstore bundle: %v", err)
	}
	return nil
}

// onceCertificate asks Fulcio for one certificate per run: every
// signature of the run is made with the same ephemeral key, within the
// certificate's ten minutes.
type onceCertificate struct {
	url  string
	p    sgsign.CertificateProvider
	once sync.Once
	der  []byte
	err  error
}

func (c *onceCertificate) GetCertificate(ctx context.Context, kp sgsign.Keypair, o *sgsign.CertificateProviderOptions) ([]byte, error) {
	c.once.Do(func() {
		c.der, c.err = c.p.GetCertificate(ctx, kp, o)
		if c.err != nil {
			c.err = fmt.Errorf("get a signing certificate from Fulcio (%s): %v: check SLIMAGE_FULCIO_URL, and that the token's audience is sigstore", c.url, c.err)
		}
	})
	return c.der, c.err
}

// logged names the Rekor a signature could not be logged in.
type logged struct {
	url string
	t   sgsign.Transparency
}

func (l *logged) GetTransparencyLogEntry(ctx context.Context, pem []byte, b *protobundle.Bundle) error {
	if err := l.t.GetTransparencyLogEntry(ctx, pem, b); err != nil {
		return fmt.Errorf("log the signature in Rekor (%s): %v: check SLIMAGE_REKOR_URL", l.url, err)
	}
	return nil
}
