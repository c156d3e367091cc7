package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// keypair is a key (SLIMAGE_SIGN_KEY) as sigstore-go signs bundles with
// it: its public key, the algorithms sigstore names it by, and a hint (the
// public key's SHA-256) that verifiers match the key by, as cosign's own
// adapter makes it.
type keypair struct {
	sv     signature.SignerVerifier
	pub    crypto.PublicKey
	hint   []byte
	keyAlg string
	alg    signature.AlgorithmDetails
}

func newKeypair(sv signature.SignerVerifier) (*keypair, error) {
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	k := &keypair{sv: sv, pub: pub, hint: []byte(base64.StdEncoding.EncodeToString(sum[:]))}
	switch pub.(type) {
	case *ecdsa.PublicKey:
		k.keyAlg = "ECDSA"
	case *rsa.PublicKey:
		k.keyAlg = "RSA"
	case ed25519.PublicKey:
		k.keyAlg = "ED25519"
	default:
		return nil, fmt.Errorf("a %T key cannot sign Sigstore bundles: use ECDSA, Ed25519 or RSA", pub)
	}
	if k.alg, err = signature.GetDefaultAlgorithmDetails(pub); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }
func (k *keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}
func (k *keypair) GetHint() []byte                { return k.hint }
func (k *keypair) GetKeyAlgorithm() string        { return k.keyAlg }
func (k *keypair) GetPublicKey() crypto.PublicKey { return k.pub }
func (k *keypair) GetPublicKeyPem() (string, error) {
	p, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	return string(p), err
}

// SignData signs data, returning the signature and the digest signed.
func (k *keypair) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	h := k.alg.GetHashType().New()
	h.Write(data)
	digest := h.Sum(nil)
	sig, err := k.sv.SignMessage(bytes.NewReader(data), options.WithContext(ctx), options.WithDigest(digest))
	if err != nil {
		return nil, nil, err
	}
	return sig, digest, nil
}
