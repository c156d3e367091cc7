// Command slimage-sign-kms is slimage-sign with sigstore's KMS providers
// linked in: it signs with, and checks against, a key held in AWS KMS,
// Google Cloud KMS, Azure Key Vault or HashiCorp Vault (SLIMAGE_SIGN_KEY
// or SLIMAGE_VERIFY_KEY written awskms://, gcpkms://, azurekms://,
// hashivault://). The four clouds' SDKs are 278 packages more, a third
// again slimage-sign's first build, so it is built only for a run that
// names such a key.
//
//	slimage-sign-kms sign                  as slimage-sign
//	slimage-sign-kms check <ref> <file>    as slimage-sign
//	slimage-sign-kms version               print the command's module versions
package main

import (
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"

	"github.com/slimage/slimage/images/internal/step"
	"github.com/slimage/slimage/images/sign"
)

const name = "slimage-sign-kms"

func main() { step.Main(name, sign.Steps, sign.Run(name)) }
