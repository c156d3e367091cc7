// Command sigstore-kms-slimagetest is a KMS plugin of sigstore's plugin
// protocol (pkg/signature/kms/cliplugin), for tests of signing with a key
// held in a KMS: the key `slimagetest://<path>` is the unencrypted PEM
// private key at path, which the plugin signs with and never hands out.
// The tests build it onto PATH, where sigstore's library (in slimage-sign,
// and in the cosign CLI) finds it by the URI's scheme, as it would a
// vendor's HSM plugin.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"os"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/handler"
)

// key is the plugin's signer: the file's key, as a KMS's would be.
type key struct {
	*signature.ECDSASignerVerifier
}

func (key) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return nil, errors.New("slimagetest cannot create keys")
}

func (k key) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("slimagetest has no crypto.Signer")
}

func (key) SupportedAlgorithms() []string { return []string{"ecdsa-p256"} }
func (key) DefaultAlgorithm() string      { return "ecdsa-p256" }

func main() {
	args, err := handler.GetPluginArgs(os.Args)
	if err != nil {
		handler.WriteErrorResponse(os.Stdout, err)
		return
	}
	path := strings.TrimPrefix(args.InitOptions.KeyResourceID, "slimagetest://")
	data, err := os.ReadFile(path)
	if err != nil {
		handler.WriteErrorResponse(os.Stdout, err)
		return
	}
	pk, err := cryptoutils.UnmarshalPEMToPrivateKey(data, cryptoutils.SkipPassword)
	if err != nil {
		handler.WriteErrorResponse(os.Stdout, err)
		return
	}
	ecKey, ok := pk.(*ecdsa.PrivateKey)
	if !ok {
		handler.WriteErrorResponse(os.Stdout, errors.New("slimagetest holds ECDSA keys only"))
		return
	}
	sv, err := signature.LoadECDSASignerVerifier(ecKey, args.InitOptions.HashFunc)
	if err != nil {
		handler.WriteErrorResponse(os.Stdout, err)
		return
	}
	handler.Dispatch(os.Stdout, os.Stdin, args, key{sv})
}
