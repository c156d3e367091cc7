// Command slimage-sign signs what slimage's image step or merge pushed,
// in cosign's formats, for slimage's mage targets (see package sign). It
// is a command of its own, built the first time a run signs
// (SLIMAGE_SIGN_KEY, SLIMAGE_SIGN=keyless) or verifyImage checks a
// signature, because cosign's and sigstore's libraries are several hundred
// packages the other steps never use.
//
//	slimage-sign sign                  sign the pushed index, its images, their SBOM and provenance
//	slimage-sign check <ref> <file>    check ref's signature and attestations (SLIMAGE_VERIFY_KEY or
//	                                   _IDENTITY), and write the digest they are about to file
//	slimage-sign version               print the command's module versions
package main

import (
	"github.com/slimage/slimage/images/internal/step"
	"github.com/slimage/slimage/images/sign"
)

const name = "slimage-sign"

func main() { step.Main(name, sign.Steps, sign.Run(name)) }
